defmodule SnakepitShm.WorkerReply do
  @moduledoc """
  Parses the one-line replies of a Python worker (`python_demo`, `snakepit_shm.worker`).

    * `ok key=value key=value ...` → `{:ok, %{"key" => "value", ...}}` (values stay
      strings; a value ends at the next space, and may itself contain `=`);
    * `error <code> <message...>` → `{:error, %{code: code, message: message,
      remediation: nil}}`, where `code` is an atom when it is one of the contract's
      codes and the string otherwise;
    * anything else → `:not_a_reply` (for log lines a worker might print).
  """

  alias SnakepitShm.Error

  @typedoc "The parsed fields of an `ok` reply."
  @type fields :: %{optional(String.t()) => String.t()}

  @typedoc "A parsed worker error."
  @type worker_error :: %{
          code: Error.code() | String.t(),
          message: String.t(),
          remediation: nil
        }

  @codes Map.new(Error.codes(), fn code -> {Atom.to_string(code), code} end)

  @doc """
  Parses one reply line (a trailing newline is ignored).

      iex> SnakepitShm.WorkerReply.parse("ok sha256=ab12 size=8")
      {:ok, %{"sha256" => "ab12", "size" => "8"}}

      iex> SnakepitShm.WorkerReply.parse("error not_found no such file")
      {:error, %{code: :not_found, message: "no such file", remediation: nil}}
  """
  @spec parse(String.t()) :: {:ok, fields()} | {:error, worker_error()} | :not_a_reply
  def parse(line) when is_binary(line) do
    case String.split(String.trim_trailing(line, "\n") |> String.trim_trailing("\r"), " ",
           trim: true
         ) do
      ["ok" | pairs] -> parse_pairs(pairs)
      ["error", code | words] -> {:error, error(code, Enum.join(words, " "))}
      ["error"] -> {:error, error("unknown", "")}
      _other -> :not_a_reply
    end
  end

  @spec parse_pairs([String.t()]) :: {:ok, fields()} | :not_a_reply
  defp parse_pairs(pairs) do
    Enum.reduce_while(pairs, {:ok, %{}}, fn pair, {:ok, fields} ->
      case String.split(pair, "=", parts: 2) do
        [key, value] when key != "" -> {:cont, {:ok, Map.put(fields, key, value)}}
        _ -> {:halt, :not_a_reply}
      end
    end)
  end

  @spec error(String.t(), String.t()) :: worker_error()
  defp error(code, message),
    do: %{code: Map.get(@codes, code, code), message: message, remediation: nil}
end
