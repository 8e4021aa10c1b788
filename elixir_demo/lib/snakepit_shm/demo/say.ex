defmodule SnakepitShm.Demo.Say do
  @moduledoc """
  Printing and checking helpers of the demo: narrated lines, timings, and turning
  `{:error, map}` results into one readable failure message.
  """

  @doc "Prints a step heading."
  @spec step(String.t(), String.t()) :: :ok
  def step(letter, title), do: IO.puts(["\n", IO.ANSI.format([:bright, "(#{letter}) ", title])])

  @doc "Prints one narrated line."
  @spec line(iodata()) :: :ok
  def line(text), do: IO.puts(["    ", text])

  @doc "Runs `fun` and returns `{result, elapsed_us}`."
  @spec timed((() -> result)) :: {result, non_neg_integer()} when result: term()
  def timed(fun) do
    started = System.monotonic_time(:microsecond)
    result = fun.()
    {result, System.monotonic_time(:microsecond) - started}
  end

  @doc """
  Formats microseconds for people.

      iex> SnakepitShm.Demo.Say.duration(850)
      "850 µs"
      iex> SnakepitShm.Demo.Say.duration(12_345)
      "12.3 ms"
  """
  @spec duration(number()) :: String.t()
  def duration(us) when us < 1_000, do: "#{round(us)} µs"
  def duration(us) when us < 10_000_000, do: "#{Float.round(us / 1_000, 1)} ms"
  def duration(us), do: "#{Float.round(us / 1_000_000, 2)} s"

  @doc "Formats a byte count (MiB with one decimal above 1 MiB)."
  @spec bytes(non_neg_integer()) :: String.t()
  def bytes(count) when count >= 1_048_576, do: "#{Float.round(count / 1_048_576, 1)} MiB"
  def bytes(count), do: "#{count} bytes"

  @doc "Formats a throughput of `count` bytes in `us` microseconds."
  @spec rate(non_neg_integer(), number()) :: String.t()
  def rate(_count, us) when us <= 0, do: "n/a"
  def rate(count, us), do: "#{Float.round(count / 1_048_576 / (us / 1_000_000), 1)} MiB/s"

  @doc """
  Unwraps `{:ok, value}`; turns an error into `{:error, "what: message"}`.
  `:ok` becomes `{:ok, :ok}`.
  """
  @spec expect(term(), String.t()) :: {:ok, term()} | {:error, String.t()}
  def expect(:ok, _what), do: {:ok, :ok}
  def expect({:ok, value}, _what), do: {:ok, value}

  def expect({:error, %{message: message} = error}, what),
    do: {:error, "#{what} failed: [#{error.code}] #{message}"}

  def expect(other, what), do: {:error, "#{what} failed: unexpected #{inspect(other)}"}

  @doc "`:ok` when `condition` holds, else `{:error, message}`."
  @spec check(boolean(), String.t()) :: :ok | {:error, String.t()}
  def check(true, _message), do: :ok
  def check(false, message), do: {:error, message}
end
