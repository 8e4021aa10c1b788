defmodule SnakepitShm.Latency do
  @moduledoc """
  Measures how long a function takes, many times, and summarises the samples in
  microseconds (nearest-rank percentiles).
  """

  @typedoc "A summary of samples in microseconds."
  @type summary :: %{
          count: non_neg_integer(),
          p50_us: number(),
          p99_us: number(),
          min_us: number(),
          max_us: number(),
          mean_us: float()
        }

  @doc """
  Calls `fun` `count` times and returns the samples in microseconds, in call order.
  Stops at the first call that does not return `:ok` and returns `{:error, result}`.
  """
  @spec sample(pos_integer(), (() -> :ok | term())) ::
          {:ok, [non_neg_integer()]} | {:error, term()}
  def sample(count, fun) when is_integer(count) and count > 0 and is_function(fun, 0) do
    Enum.reduce_while(1..count, {:ok, []}, fn _, {:ok, samples} ->
      started = System.monotonic_time(:microsecond)

      case fun.() do
        :ok -> {:cont, {:ok, [System.monotonic_time(:microsecond) - started | samples]}}
        other -> {:halt, {:error, other}}
      end
    end)
    |> case do
      {:ok, samples} -> {:ok, Enum.reverse(samples)}
      error -> error
    end
  end

  @doc """
  The nearest-rank percentile `p` (0 < p <= 100) of `samples`.

      iex> SnakepitShm.Latency.percentile([5, 1, 4, 2, 3], 50)
      3
      iex> SnakepitShm.Latency.percentile(Enum.to_list(1..100), 99)
      99
  """
  @spec percentile([number()], number()) :: number()
  def percentile([_ | _] = samples, p) when p > 0 and p <= 100 do
    sorted = Enum.sort(samples)
    rank = max(ceil(p / 100 * length(sorted)), 1)
    Enum.at(sorted, rank - 1)
  end

  @doc "Summarises `samples` (microseconds)."
  @spec summarize([number()]) :: summary()
  def summarize([_ | _] = samples) do
    %{
      count: length(samples),
      p50_us: percentile(samples, 50),
      p99_us: percentile(samples, 99),
      min_us: Enum.min(samples),
      max_us: Enum.max(samples),
      mean_us: Enum.sum(samples) / length(samples)
    }
  end
end
