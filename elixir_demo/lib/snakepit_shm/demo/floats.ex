defmodule SnakepitShm.Demo.Floats do
  @moduledoc """
  The demo's data: `count` float64 values, little-endian, chosen so that `x * 2.5` and
  every partial sum are exact in binary floating point (multiples of 1/16 far below
  2^53). Elixir and numpy therefore agree bit for bit, whatever order numpy sums in.

  Element `i` is `rem(i, 1024) * 0.125`.
  """

  @period 1024
  @step 0.125

  @doc """
  The input payload: `count` little-endian float64 values.

      iex> SnakepitShm.Demo.Floats.input(3)
      <<0.0::float-little-64, 0.125::float-little-64, 0.25::float-little-64>>
  """
  @spec input(non_neg_integer()) :: binary()
  def input(count) when is_integer(count) and count >= 0 do
    for i <- 0..(count - 1)//1, into: <<>>, do: <<value(i)::float-little-64>>
  end

  @doc "Each value of the little-endian float64 binary `bytes` times `factor`."
  @spec scale(binary(), float()) :: binary()
  def scale(bytes, factor) when is_binary(bytes) and is_float(factor) do
    for <<x::float-little-64 <- bytes>>, into: <<>>, do: <<x * factor::float-little-64>>
  end

  @doc """
  The sum of the first `count` input values times `factor`, computed exactly.

      iex> SnakepitShm.Demo.Floats.scaled_sum(4, 2.5)
      1.875
  """
  @spec scaled_sum(non_neg_integer(), float()) :: float()
  def scaled_sum(count, factor) do
    full_periods = div(count, @period)
    rest = rem(count, @period)
    index_sum = full_periods * div(@period * (@period - 1), 2) + div(rest * (rest - 1), 2)
    index_sum * @step * factor
  end

  @doc "The float64 at element `index` of the little-endian binary `bytes`."
  @spec at(binary(), non_neg_integer()) :: float()
  def at(bytes, index) do
    <<x::float-little-64>> = binary_part(bytes, index * 8, 8)
    x
  end

  @spec value(non_neg_integer()) :: float()
  defp value(i), do: rem(i, @period) * @step
end
