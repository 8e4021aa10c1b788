defmodule SnakepitShm.PayloadTest do
  use ExUnit.Case, async: true

  alias SnakepitShm.Payload
  alias SnakepitShm.TestNode

  doctest SnakepitShm.Payload

  setup do
    server = TestNode.server()
    {:ok, region} = SnakepitShm.allocate(server, 1000, label: "payload")
    %{server: server, region: region}
  end

  test "bytes written through one descriptor are read back", %{region: region} do
    assert :ok = SnakepitShm.write(region, 0, "hello")
    assert :ok = SnakepitShm.write(region, 995, ["wo", ?r, "ld"])
    assert {:ok, "hello"} = SnakepitShm.read(region, 0, 5)
    assert {:ok, "world"} = SnakepitShm.read(region, 995, 5)
    assert {:ok, <<"hello", _::binary-size(990), "world">>} = SnakepitShm.read(region, 0, 1000)
    assert {:ok, ""} = SnakepitShm.read(region, 1000, 0)
  end

  test "the payload is at descriptor.offset in the segment file", %{region: region} do
    :ok = SnakepitShm.write(region, 10, "marker")
    {:ok, file} = :file.open(region.path, [:read, :binary, :raw])
    assert {:ok, "marker"} = :file.pread(file, region.offset + 10, 6)
    :ok = :file.close(file)
  end

  test "out-of-bounds access is :invalid_request and leaves the neighbours alone",
       %{region: region} do
    before = around_payload(region)

    for {offset, data} <- [{-1, "a"}, {999, "ab"}, {1000, "a"}, {0, :binary.copy("x", 1001)}] do
      assert {:error, %{code: :invalid_request, remediation: remediation}} =
               SnakepitShm.write(region, offset, data)

      assert remediation =~ "1000"
    end

    for {offset, length} <- [{-1, 1}, {0, 1001}, {1000, 1}, {0, -1}] do
      assert {:error, %{code: :invalid_request}} = SnakepitShm.read(region, offset, length)
    end

    assert around_payload(region) == before
  end

  test "bounds are checked before the file is touched" do
    path = Path.join(TestNode.shm_dir(), "snk-does-not-exist")

    fake = %{
      id: "0000000000000001",
      path: path,
      offset: 320,
      size: 16,
      access: :read_write
    }

    assert {:error, %{code: :invalid_request}} = SnakepitShm.write(fake, 10, "0123456789")
    refute File.exists?(path)
    assert {:error, %{code: :not_found}} = SnakepitShm.write(fake, 0, "x")
    refute File.exists?(path)
    assert {:error, %{code: :not_found}} = SnakepitShm.read(fake, 0, 1)
  end

  test "a read-only descriptor refuses writes but reads", %{server: server, region: region} do
    :ok = SnakepitShm.write(region, 0, "shared")
    assert {:ok, read_only} = SnakepitShm.acquire(server, region, access: :read_only)
    assert read_only.access == :read_only

    assert {:error, %{code: :forbidden}} = SnakepitShm.write(read_only, 0, "x")
    assert {:ok, "shared"} = SnakepitShm.read(read_only, 0, 6)
  end

  test "not a descriptor is :invalid_request" do
    assert {:error, %{code: :invalid_request}} = SnakepitShm.read(%{path: "/x"}, 0, 1)
    assert {:error, %{code: :invalid_request}} = SnakepitShm.write(%{}, 0, "x")
  end

  test "with_region returns the function's result and releases", %{server: server} do
    parent = self()

    assert {:ok, "abc"} =
             SnakepitShm.with_region(server, 64, [label: "with"], fn region ->
               send(parent, {:region, region})
               :ok = SnakepitShm.write(region, 0, "abc")
               SnakepitShm.read(region, 0, 3)
             end)

    assert_received {:region, region}
    assert_released(server, region.id)
  end

  test "with_region releases when the function raises", %{server: server} do
    parent = self()

    assert_raise RuntimeError, "boom", fn ->
      SnakepitShm.with_region(server, 64, [label: "raise"], fn region ->
        send(parent, {:region, region})
        raise "boom"
      end)
    end

    assert_received {:region, region}
    assert_released(server, region.id)
  end

  test "with_region returns an allocation error without calling the function",
       %{server: server} do
    assert {:error, %{code: :invalid_request}} =
             SnakepitShm.with_region(server, 64, [bogus: 1], fn _ -> flunk("called") end)
  end

  describe "off Linux" do
    @remediation "use write_consistent/5 and read_consistent/5, which go through the node"

    test "this suite runs where direct file access is available" do
      assert :os.type() == {:unix, :linux}
      assert :ok = Payload.check_direct_access()
      assert :ok = Payload.check_direct_access({:unix, :linux})
    end

    test "write and read are a :platform_error that touches nothing",
         %{server: server, region: region} do
      :ok = SnakepitShm.write(region, 0, "before")
      before = around_payload(region)

      for {os_type, name} <- [
            {{:unix, :darwin}, "macOS"},
            {{:win32, :nt}, "Windows"},
            {{:unix, :freebsd}, "freebsd"}
          ] do
        assert {:error, %SnakepitShm.Error{} = error} =
                 Payload.write(region, 0, "after", os_type: os_type)

        assert error.code == :platform_error
        assert error.remediation == @remediation
        assert error.message =~ "not available on #{name}"
        assert error.details == %{os_type: os_type}

        assert {:error, ^error} = Payload.read(region, 0, 6, os_type: os_type)
        # checked before the bounds: the call cannot work there at all
        assert {:error, %{code: :platform_error}} =
                 Payload.read(region, 5000, 1, os_type: os_type)
      end

      assert around_payload(region) == before
      assert {:ok, "before"} = Payload.read(region, 0, 6, os_type: {:unix, :linux})

      # the remediation works: through the node
      assert :ok = SnakepitShm.write_consistent(server, region.id, 0, "after")
      assert {:ok, "after"} = SnakepitShm.read_consistent(server, region.id, 0, 5)
    end

    test "the messages say why on each system" do
      assert {:error, mac} = Payload.check_direct_access({:unix, :darwin})
      assert mac.message =~ "POSIX shared-memory objects, not files"
      assert {:error, windows} = Payload.check_direct_access({:win32, :nt})
      assert windows.message =~ "named sections (Local\\snk...), not files"
      assert {:error, other} = Payload.check_direct_access({:unix, :sunos})
      assert other.message =~ "on Linux only"
    end

    test "a malformed descriptor is still :invalid_request" do
      assert {:error, %{code: :invalid_request}} =
               Payload.write(%{}, 0, "x", os_type: {:unix, :darwin})
    end
  end

  # The region header before the payload, the payload, and the padding after it.
  defp around_payload(region) do
    {:ok, file} = :file.open(region.path, [:read, :binary, :raw])
    {:ok, bytes} = :file.pread(file, region.offset - 64, 64 + 1024)
    :ok = :file.close(file)
    bytes
  end

  defp assert_released(server, id) do
    case SnakepitShm.info(server, id) do
      {:ok, info} -> assert info.refcount == 0
      {:error, error} -> assert %{code: :not_found} = error
    end
  end
end
