defmodule SnakepitShm.WorkerReplyTest do
  use ExUnit.Case, async: true

  alias SnakepitShm.WorkerReply

  doctest SnakepitShm.WorkerReply

  test "ok with fields; values stay strings and may contain '='" do
    assert WorkerReply.parse("ok sum=1.5e+18 n=3 expr=a=b\n") ==
             {:ok, %{"sum" => "1.5e+18", "n" => "3", "expr" => "a=b"}}
  end

  test "ok alone has no fields" do
    assert WorkerReply.parse("ok") == {:ok, %{}}
  end

  test "error with a contract code becomes an atom, other codes stay strings" do
    assert WorkerReply.parse("error invalid_region stale descriptor: generation 3") ==
             {:error,
              %{
                code: :invalid_region,
                message: "stale descriptor: generation 3",
                remediation: nil
              }}

    assert {:error, %{code: "numpy_missing", message: "no numpy"}} =
             WorkerReply.parse("error numpy_missing no numpy")

    assert {:error, %{code: "unknown", message: ""}} = WorkerReply.parse("error")
  end

  test "other lines are not replies" do
    assert WorkerReply.parse("") == :not_a_reply
    assert WorkerReply.parse("okay then") == :not_a_reply
    assert WorkerReply.parse("ok novalue") == :not_a_reply
    assert WorkerReply.parse("Traceback (most recent call last):") == :not_a_reply
  end
end
