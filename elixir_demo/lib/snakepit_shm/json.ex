defmodule SnakepitShm.JSON do
  @moduledoc """
  A tiny JSON encoder for the requests sent to Python workers (no Hex dependency).

  It encodes maps (atom or string keys), lists, strings, integers, floats, booleans,
  `nil` (as `null`) and other atoms (as strings), and always produces one line: every
  control character inside a string is escaped. Anything else raises
  `ArgumentError`.
  """

  @typedoc "A term this encoder accepts."
  @type encodable ::
          nil
          | boolean()
          | atom()
          | String.t()
          | number()
          | [encodable()]
          | %{optional(atom() | String.t()) => encodable()}

  @doc """
  Encodes `term` as a JSON text without newlines.

      iex> SnakepitShm.JSON.encode(%{op: "ping"})
      ~s({"op":"ping"})

      iex> SnakepitShm.JSON.encode([1, 2.5, nil, true, :read_only, "a\\nb"])
      ~s([1,2.5,null,true,"read_only","a\\\\nb"])
  """
  @spec encode(encodable()) :: String.t()
  def encode(term), do: term |> encode_iodata() |> IO.iodata_to_binary()

  @doc "Like `encode/1`, as iodata."
  @spec encode_iodata(encodable()) :: iodata()
  def encode_iodata(nil), do: "null"
  def encode_iodata(true), do: "true"
  def encode_iodata(false), do: "false"
  def encode_iodata(atom) when is_atom(atom), do: encode_string(Atom.to_string(atom))
  def encode_iodata(string) when is_binary(string), do: encode_string(string)
  def encode_iodata(integer) when is_integer(integer), do: Integer.to_string(integer)
  def encode_iodata(float) when is_float(float), do: Float.to_string(float)

  def encode_iodata(list) when is_list(list),
    do: [?[, list |> Enum.map(&encode_iodata/1) |> Enum.intersperse(?,), ?]]

  def encode_iodata(map) when is_map(map) and not is_struct(map) do
    members =
      map
      |> Enum.sort_by(fn {key, _value} -> key_string(key) end)
      |> Enum.map(fn {key, value} ->
        [encode_string(key_string(key)), ?:, encode_iodata(value)]
      end)
      |> Enum.intersperse(?,)

    [?{, members, ?}]
  end

  def encode_iodata(other),
    do: raise(ArgumentError, "cannot encode #{inspect(other)} as JSON")

  @spec key_string(atom() | String.t()) :: String.t()
  defp key_string(key) when is_atom(key), do: Atom.to_string(key)
  defp key_string(key) when is_binary(key), do: key

  defp key_string(key),
    do: raise(ArgumentError, "JSON object keys must be atoms or strings, got #{inspect(key)}")

  @spec encode_string(String.t()) :: iodata()
  defp encode_string(string) do
    unless String.valid?(string) do
      raise ArgumentError, "cannot encode #{inspect(string)} as JSON: not valid UTF-8"
    end

    [?", escape(string, []), ?"]
  end

  @spec escape(binary(), iodata()) :: iodata()
  defp escape(<<>>, acc), do: Enum.reverse(acc)
  defp escape(<<?", rest::binary>>, acc), do: escape(rest, ["\\\"" | acc])
  defp escape(<<?\\, rest::binary>>, acc), do: escape(rest, ["\\\\" | acc])
  defp escape(<<?\n, rest::binary>>, acc), do: escape(rest, ["\\n" | acc])
  defp escape(<<?\r, rest::binary>>, acc), do: escape(rest, ["\\r" | acc])
  defp escape(<<?\t, rest::binary>>, acc), do: escape(rest, ["\\t" | acc])

  # U+2028 and U+2029 are valid JSON but end lines for some readers; escape them too.
  defp escape(<<char::utf8, rest::binary>>, acc)
       when char < 0x20 or char == 0x7F or char in [0x2028, 0x2029],
       do: escape(rest, [unicode_escape(char) | acc])

  defp escape(<<char::utf8, rest::binary>>, acc), do: escape(rest, [<<char::utf8>> | acc])

  @spec unicode_escape(non_neg_integer()) :: String.t()
  defp unicode_escape(char),
    do: "\\u" <> String.pad_leading(Integer.to_string(char, 16), 4, "0")
end
