defmodule Bench.Stats do
  @moduledoc """
  Exact statistics of latency samples, computed from the sorted samples (no histogram
  buckets, so no rounding): percentiles by the nearest-rank definition — the p-th
  percentile of n sorted samples is the sample of rank max(1, ceil(p/100 * n)).

  The percentile distribution uses HdrHistogram's reporting ticks (5 ticks per half
  distance: 0, 10, ..., 50, 55, ..., 75, 77.5, ...), down to the last sample, so it can be
  written as an HdrHistogram `.hgrm` percentile file and plotted like one.
  """

  @ticks_per_half_distance 5

  @typedoc "Summary of a series, all latencies in microseconds."
  @type summary :: %{
          count: non_neg_integer(),
          min_us: float(),
          mean_us: float(),
          p50_us: float(),
          p90_us: float(),
          p99_us: float(),
          p999_us: float(),
          p9999_us: float(),
          max_us: float(),
          distribution: [[float()]]
        }

  @doc "Summarises latency samples given in nanoseconds."
  @spec summarize([non_neg_integer()]) :: summary()
  def summarize([]), do: %{count: 0}

  def summarize(samples_ns) do
    sorted = samples_ns |> Enum.sort() |> List.to_tuple()
    n = tuple_size(sorted)
    at = fn p -> us(percentile(sorted, p)) end

    %{
      count: n,
      min_us: us(elem(sorted, 0)),
      mean_us: Float.round(Enum.sum(samples_ns) / n / 1000, 2),
      p50_us: at.(50.0),
      p90_us: at.(90.0),
      p99_us: at.(99.0),
      p999_us: at.(99.9),
      p9999_us: at.(99.99),
      max_us: us(elem(sorted, n - 1)),
      distribution: Enum.map(ticks(n), fn p -> [p, at.(p)] end)
    }
  end

  @doc "The exact nearest-rank percentile `p` (0..100) of a sorted tuple."
  @spec percentile(tuple(), float()) :: integer()
  def percentile(sorted, p) do
    n = tuple_size(sorted)
    rank = max(1, ceil(p / 100 * n))
    elem(sorted, min(rank, n) - 1)
  end

  @doc "Median of numbers (the lower middle element for an even count: nearest rank)."
  @spec median([number()]) :: number()
  def median(values), do: values |> Enum.sort() |> List.to_tuple() |> percentile(50.0)

  @doc "Percentiles reported for `n` samples: HdrHistogram's ticks, then 100."
  @spec ticks(pos_integer()) :: [float()]
  def ticks(n), do: ticks(0.0, n, []) |> Enum.reverse()

  defp ticks(p, n, acc) when p < 100.0 do
    remaining = 1.0 - p / 100

    if remaining * n < 1.0 - 1.0e-9 do
      [100.0 | acc]
    else
      half = :math.log2(1 / remaining) |> Float.floor() |> trunc()
      step = 100.0 / (@ticks_per_half_distance * :math.pow(2, half + 1))
      ticks(Float.round(p + step, 10), n, [Float.round(p, 6) | acc])
    end
  end

  defp ticks(_p, _n, acc), do: [100.0 | acc]

  @doc """
  An HdrHistogram-style percentile file (`.hgrm`) of a summary: columns Value (µs),
  Percentile, TotalCount, 1/(1-Percentile), then the Mean/Max/Count footer.
  """
  @spec hgrm(summary()) :: iodata()
  def hgrm(%{count: n, distribution: dist} = summary) do
    header = "       Value     Percentile TotalCount 1/(1-Percentile)\n\n"

    rows =
      for [p, value] <- dist do
        fraction = p / 100
        count = max(1, ceil(fraction * n))
        inverse = if fraction >= 1.0, do: "", else: fmt(1 / (1 - fraction), 2)
        :io_lib.format("~12s ~14s ~10B ~14s~n", [fmt(value, 3), fmt(fraction, 12), count, inverse])
      end

    footer =
      "#[Mean    = #{fmt(summary.mean_us, 3)}, StdDeviation   = 0.000]\n" <>
        "#[Max     = #{fmt(summary.max_us, 3)}, Total count    = #{n}]\n" <>
        "#[Buckets = 0, SubBuckets     = 0]\n"

    [header, rows, footer]
  end

  @doc "Nanoseconds as microseconds, rounded to 0.01."
  @spec us(number()) :: float()
  def us(ns), do: Float.round(ns / 1000, 2)

  @doc "Nanoseconds as milliseconds, rounded to 0.001."
  @spec ms(number()) :: float()
  def ms(ns), do: Float.round(ns / 1_000_000, 3)

  @doc "`a / b` rounded to 0.001, or nil when b is zero or either is nil."
  @spec ratio(number() | nil, number() | nil) :: float() | nil
  def ratio(a, b) when is_number(a) and is_number(b) and b != 0, do: Float.round(a / b, 3)
  def ratio(_a, _b), do: nil

  defp fmt(x, decimals), do: :erlang.float_to_binary(x * 1.0, decimals: decimals)
end
