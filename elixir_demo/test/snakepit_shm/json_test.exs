defmodule SnakepitShm.JSONTest do
  use ExUnit.Case, async: true

  alias SnakepitShm.JSON

  doctest SnakepitShm.JSON

  test "encodes scalars" do
    assert JSON.encode(nil) == "null"
    assert JSON.encode(true) == "true"
    assert JSON.encode(false) == "false"
    assert JSON.encode(42) == "42"
    assert JSON.encode(-7) == "-7"
    assert JSON.encode(2.5) == "2.5"
    assert JSON.encode(1.0e20) == "1.0e20"
    assert JSON.encode(:read_write) == ~s("read_write")
    assert JSON.encode("héllo") == ~s("héllo")
  end

  test "encodes maps with atom and string keys, and nested lists" do
    assert JSON.encode(%{op: "scale", factor: 2.5}) == ~s({"factor":2.5,"op":"scale"})
    assert JSON.encode(%{"a" => [1, %{b: nil}]}) == ~s({"a":[1,{"b":null}]})
    assert JSON.encode(%{}) == "{}"
    assert JSON.encode([]) == "[]"
  end

  test "escapes quotes, backslashes and control characters onto one line" do
    encoded = JSON.encode("a\"b\\c\nd\re\tf" <> <<1, 0x1F>> <> "\u2028")

    assert encoded == ~S("a\"b\\c\nd\re\tf\u0001\u001F\u2028")
    refute String.contains?(encoded, ["\n", "\r"])
  end

  test "encodes a descriptor the way the Python worker expects it" do
    descriptor = %{
      id: "00000000000000a1",
      generation: 7,
      segment: "/snkabc",
      path: "/dev/shm/snkabc",
      offset: 320,
      size: 4096,
      access: :read_only,
      tenant: nil,
      session: "s1"
    }

    assert JSON.encode(%{op: "sha256", region: descriptor}) ==
             ~s({"op":"sha256","region":{"access":"read_only","generation":7,) <>
               ~s("id":"00000000000000a1","offset":320,"path":"/dev/shm/snkabc",) <>
               ~s("segment":"/snkabc","session":"s1","size":4096,"tenant":null}})
  end

  test "refuses what JSON cannot carry" do
    assert_raise ArgumentError, fn -> JSON.encode(self()) end
    assert_raise ArgumentError, fn -> JSON.encode({1, 2}) end
    assert_raise ArgumentError, fn -> JSON.encode(<<0xFF>>) end
    assert_raise ArgumentError, fn -> JSON.encode(%{1 => 2}) end
  end
end
