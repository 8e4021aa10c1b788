defmodule SnakepitShm.Snakepit.Support do
  @moduledoc false
  # What SnakepitShm.Snakepit.Pool and SnakepitShm.Snakepit.SessionStore share: the
  # validation of their options and the call to their GenServer, with one wording of
  # the errors.

  alias SnakepitShm.Error

  @typedoc """
  How a server names itself in errors: `what` ("the pool"), `key` (its key in the
  error's details), `start` (the remediation when it is not running), `limit` (of the
  inspected exit reason).
  """
  @type server_names :: %{what: String.t(), key: atom(), start: String.t(), limit: pos_integer()}

  # --- calls ---------------------------------------------------------------------------

  @spec call(GenServer.server(), term(), timeout(), server_names()) :: term()
  def call(server, request, timeout, names) do
    GenServer.call(server, request, timeout)
  catch
    :exit, {reason, _} when reason in [:noproc, :normal, :shutdown] ->
      Error.new(:not_found, "#{names.what} #{inspect(server)} is not running", names.start, %{
        names.key => server
      })

    :exit, {:timeout, _} ->
      Error.new(:timeout, "#{names.what} #{inspect(server)} did not answer in time", nil, %{
        names.key => server
      })

    :exit, reason ->
      Error.new(
        :platform_error,
        "#{names.what} exited: #{inspect(reason, limit: names.limit)}",
        nil,
        %{names.key => server}
      )
  end

  @spec ok({:ok, :ok} | {:error, Error.t()}) :: :ok | {:error, Error.t()}
  def ok({:ok, :ok}), do: :ok
  def ok({:error, _} = error), do: error

  # --- options -------------------------------------------------------------------------

  @spec check_keyword(term(), [atom()], String.t()) :: :ok | {:error, Error.t()}
  def check_keyword(opts, allowed, function) do
    cond do
      not Keyword.keyword?(opts) ->
        invalid(
          "#{function} options must be a keyword list, got #{inspect(opts, limit: 5)}",
          :opts
        )

      (unknown = Enum.find(Keyword.keys(opts), &(&1 not in allowed))) != nil ->
        invalid(
          "#{function}: unknown option #{inspect(unknown)}; known: " <>
            Enum.map_join(allowed, ", ", &inspect/1),
          unknown
        )

      true ->
        :ok
    end
  end

  @spec positive(term(), atom()) :: {:ok, pos_integer()} | {:error, Error.t()}
  def positive(value, _key) when is_integer(value) and value > 0, do: {:ok, value}

  def positive(other, key),
    do: invalid("#{key}: must be a positive integer, got #{inspect(other)}", key)

  @spec non_negative(term(), atom()) :: {:ok, non_neg_integer()} | {:error, Error.t()}
  def non_negative(value, _key) when is_integer(value) and value >= 0, do: {:ok, value}

  def non_negative(other, key),
    do: invalid("#{key}: must be a non-negative integer, got #{inspect(other)}", key)

  @spec invalid(String.t(), atom()) :: {:error, Error.t()}
  def invalid(message, key), do: Error.new(:invalid_request, message, nil, %{key: key})
end
