defmodule SnakepitShm.Error do
  @moduledoc """
  The error shape shared by the node and this client (CONTRACT section 4).

  Every failure is `{:error, %{code: atom, message: binary, remediation: binary | nil}}`,
  possibly with more keys (`limit`, `requested`, `node`, `reason`, ...). This module
  builds such tuples for failures detected on the Elixir side, so callers handle the
  node's errors and the client's errors the same way.
  """

  @typedoc "The error codes of the contract."
  @type code ::
          :invalid_request
          | :not_found
          | :forbidden
          | :limit_exceeded
          | :no_space
          | :invalid_region
          | :timeout
          | :platform_error
          | :busy

  @typedoc "An error map: `code`, `message` and `remediation`, plus optional detail keys."
  @type t :: %{
          required(:code) => atom(),
          required(:message) => String.t(),
          required(:remediation) => String.t() | nil,
          optional(atom()) => term()
        }

  @codes [
    :invalid_request,
    :not_found,
    :forbidden,
    :limit_exceeded,
    :no_space,
    :invalid_region,
    :timeout,
    :platform_error,
    :busy
  ]

  @doc "The error codes of the contract, in its order."
  @spec codes() :: [code()]
  def codes, do: @codes

  @doc """
  Builds `{:error, map}` with `code`, `message`, `remediation` and any `extra` keys.

      iex> SnakepitShm.Error.new(:busy, "try later")
      {:error, %{code: :busy, message: "try later", remediation: nil}}
  """
  @spec new(atom(), String.t(), String.t() | nil, map()) :: {:error, t()}
  def new(code, message, remediation \\ nil, extra \\ %{})
      when is_atom(code) and is_binary(message) and is_map(extra) do
    {:error, Map.merge(extra, %{code: code, message: message, remediation: remediation})}
  end
end
