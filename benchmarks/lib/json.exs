defmodule Bench.Json do
  @moduledoc """
  A minimal JSON encoder for benchmark results (no Hex packages here, so no Jason).

  Encodes maps (atom or binary keys), lists, binaries (UTF-8), integers, floats, atoms,
  `true`/`false`/`nil`. Tuples are encoded as lists. Floats use the shortest
  representation that reads back exactly.
  """

  @doc "Encodes `term` as JSON iodata."
  @spec encode(term()) :: iodata()
  def encode(nil), do: "null"
  def encode(true), do: "true"
  def encode(false), do: "false"
  def encode(atom) when is_atom(atom), do: encode(Atom.to_string(atom))
  def encode(int) when is_integer(int), do: Integer.to_string(int)
  def encode(float) when is_float(float), do: :erlang.float_to_binary(float, [:short])
  def encode(text) when is_binary(text), do: [?", escape(text), ?"]
  def encode(tuple) when is_tuple(tuple), do: encode(Tuple.to_list(tuple))

  def encode(list) when is_list(list),
    do: [?[, list |> Enum.map(&encode/1) |> Enum.intersperse(?,), ?]]

  def encode(map) when is_map(map) do
    fields =
      map
      |> Enum.sort_by(fn {key, _} -> to_string(key) end)
      |> Enum.map(fn {key, value} -> [encode(to_string(key)), ?:, encode(value)] end)
      |> Enum.intersperse(?,)

    [?{, fields, ?}]
  end

  @doc "Encodes `term` and writes it to `path`, pretty enough to diff (one top-level key a line)."
  @spec write!(Path.t(), map()) :: :ok
  def write!(path, map) when is_map(map) do
    body =
      map
      |> Enum.sort_by(fn {key, _} -> to_string(key) end)
      |> Enum.map(fn {key, value} -> ["  ", encode(to_string(key)), ": ", encode(value)] end)
      |> Enum.intersperse(",\n")

    File.write!(path, ["{\n", body, "\n}\n"])
  end

  @spec escape(binary()) :: iodata()
  defp escape(text) do
    for <<char::utf8 <- text>> do
      case char do
        ?" -> "\\\""
        ?\\ -> "\\\\"
        ?\n -> "\\n"
        c when c < 0x20 -> "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")
        c -> <<c::utf8>>
      end
    end
  end
end
