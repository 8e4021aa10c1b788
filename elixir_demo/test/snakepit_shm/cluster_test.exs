defmodule SnakepitShm.ClusterTest do
  # Starts two managers of its own that act as two hosts (host ids host-a and host-b, set
  # through SNAKEPIT_SHM_HOST_ID around their start) and BEAM peers: not async.
  use ExUnit.Case, async: false

  alias SnakepitShm.{Cluster, NodeProcess, OsProcess, TestNode}
  alias SnakepitShm.Cluster.Demo

  doctest SnakepitShm.Cluster

  @moduletag timeout: 180_000
  @mib 1024 * 1024

  setup_all do
    suffix = Base.encode16(:crypto.strong_rand_bytes(4), case: :lower)
    managers = for host <- ["host-a", "host-b"], do: start_manager!(host, suffix)

    on_exit(fn ->
      for m <- managers do
        _ = NodeProcess.stop(m.process)
        :ok = OsProcess.ensure_exited(m.process.os_pid, 5_000)
        File.rm_rf!(m.dir)
        File.rm(m.log)
      end

      Cluster.forget()
    end)

    [a, b] = managers
    %{a: a.process.node, b: b.process.node, dir_a: a.dir, dir_b: b.dir, suffix: suffix}
  end

  setup do
    Cluster.forget()
    :ok
  end

  defp start_manager!(host, suffix) do
    letter = String.last(host)
    dir = "/dev/shm/snktest-mix-cl-#{suffix}-#{letter}"
    log = Path.join(System.tmp_dir!(), "snktest-mix-cl-#{suffix}-#{letter}.log")
    File.mkdir!(dir)
    File.chmod!(dir, 0o700)
    previous = System.get_env("SNAKEPIT_SHM_HOST_ID")
    System.put_env("SNAKEPIT_SHM_HOST_ID", host)

    started =
      try do
        NodeProcess.start(
          name: "snktest_mix_cl_#{letter}_#{suffix}",
          cookie: Node.get_cookie(),
          shm_dir: dir,
          stderr_path: log
        )
      after
        if previous,
          do: System.put_env("SNAKEPIT_SHM_HOST_ID", previous),
          else: System.delete_env("SNAKEPIT_SHM_HOST_ID")
      end

    case started do
      {:ok, process} ->
        %{process: process, dir: dir, log: log}

      {:error, error} ->
        File.rm_rf!(dir)
        flunk("manager #{host} did not start: #{error.message}")
    end
  end

  defp managers(ctx), do: [TestNode.server(), ctx.a, ctx.b]

  defp random_region!(server, size_bytes, opts \\ []) do
    {:ok, descriptor} = SnakepitShm.allocate(server, size_bytes, opts)
    bytes = :crypto.strong_rand_bytes(size_bytes)
    :ok = SnakepitShm.write(descriptor, 0, bytes)
    {descriptor, bytes}
  end

  # Regions released by earlier tests may still be in their grace period: compare with
  # subset?/2 (nothing new), never with equality.
  defp region_ids(server, filter \\ []) do
    {:ok, infos} = SnakepitShm.list(server, filter)
    infos |> Enum.map(& &1.id) |> MapSet.new()
  end

  describe "host identity" do
    test "the derivation matches the manager's test vector (HostIdentityTest)" do
      assert Cluster.derive_host_id("build-7", "3f1c0a9e-5b7d-4e2a-9c1f-0a1b2c3d4e5f") ==
               "e35ddf13ed30b2d0"

      assert Cluster.derive_host_id("build-7", nil) == "57d2217682ae012b"
      assert Cluster.derive_host_id("build-7", "") == "57d2217682ae012b"
    end

    test "this BEAM computes the host id that the suite's manager on this machine reports" do
      {:ok, %{host: host}} = SnakepitShm.ping(TestNode.server())
      me = Cluster.host_identity()
      assert host.id == me.id
      assert host.name == me.name
      assert host.boot_id == me.boot_id

      if System.get_env("SNAKEPIT_SHM_HOST_ID") in [nil, ""] do
        assert host.source == :derived and me.source == :derived
        assert me.id =~ ~r/\A[0-9a-f]{16}\z/
        {:ok, boot_id} = File.read("/proc/sys/kernel/random/boot_id")
        assert me.boot_id == String.trim(boot_id)
      end
    end

    test "the managers started with SNAKEPIT_SHM_HOST_ID report it, and their descriptors carry it",
         ctx do
      for {manager, host} <- [{ctx.a, "host-a"}, {ctx.b, "host-b"}] do
        assert {:ok, %{host: %{id: ^host, source: :override}}} = SnakepitShm.ping(manager)
        {:ok, descriptor} = SnakepitShm.allocate(manager, 100)
        assert descriptor.host == host
        assert {:ok, %{host: ^host}} = SnakepitShm.acquire(manager, descriptor)
        :ok = SnakepitShm.release(manager, descriptor.id)
        :ok = SnakepitShm.release(manager, descriptor.id)
      end
    end

    test "precedence: the option, then config, then SNAKEPIT_SHM_HOST_ID, then derived" do
      derived = Cluster.host_identity()
      assert %{id: "opt-1", source: :option} = Cluster.host_identity(host_id: "opt-1")

      Application.put_env(:snakepit_shm, Cluster, host_id: "conf-1")

      try do
        assert %{id: "conf-1", source: :config} = Cluster.host_identity()
        assert Cluster.host_id(host_id: "opt-1") == "opt-1"
      after
        Application.delete_env(:snakepit_shm, Cluster)
      end

      previous = System.get_env("SNAKEPIT_SHM_HOST_ID")
      System.put_env("SNAKEPIT_SHM_HOST_ID", " env-1 ")

      try do
        assert %{id: "env-1", source: :env} = Cluster.host_identity()
        System.put_env("SNAKEPIT_SHM_HOST_ID", "  ")
        assert Cluster.host_identity().source == :derived
      after
        if previous,
          do: System.put_env("SNAKEPIT_SHM_HOST_ID", previous),
          else: System.delete_env("SNAKEPIT_SHM_HOST_ID")
      end

      assert Cluster.host_identity() == derived
    end

    test "a malformed override is refused with the rule" do
      for bad <- ["", "two words", "a/b", String.duplicate("x", 65), :atom] do
        assert_raise ArgumentError, ~r/1 to 64 letters/, fn -> Cluster.host_id(host_id: bad) end

        assert {:error, %{code: :invalid_request, details: %{key: :host_id}}} =
                 Cluster.local_manager(host_id: bad, managers: [])
      end
    end
  end

  describe "local_manager/1" do
    test "picks the candidate whose host is this BEAM's", ctx do
      candidates = managers(ctx)
      assert {:ok, ctx.a} == Cluster.local_manager(managers: candidates, host_id: "host-a")
      assert {:ok, ctx.b} == Cluster.local_manager(managers: candidates, host_id: "host-b")
      assert {:ok, TestNode.server()} == Cluster.local_manager(managers: candidates)
      assert {:ok, ctx.b} == Cluster.manager_for_host("host-b", managers: candidates)
    end

    test "no manager of this host: :not_found naming what every candidate answered", ctx do
      nobody =
        :"snktest_nobody_#{ctx.suffix}@#{node() |> Atom.to_string() |> String.split("@") |> List.last()}"

      candidates = [ctx.a, nobody, ctx.b]

      assert {:error, error} = Cluster.local_manager(managers: candidates, host_id: "host-c")
      assert error.code == :not_found
      assert error.details.reason == :no_local_manager
      assert error.details.host == "host-c"

      assert error.details.candidates == [
               %{node: ctx.a, host: "host-a"},
               %{node: nobody, host: nil},
               %{node: ctx.b, host: "host-b"}
             ]

      assert error.message =~ "#{ctx.a} is host host-a"
      assert error.message =~ "#{nobody}: not_found"
      assert error.remediation =~ "SNAKEPIT_SHM_HOST_ID"

      # An unreachable candidate does not hide the one that answers.
      assert {:ok, ctx.b} == Cluster.local_manager(managers: candidates, host_id: "host-b")

      assert {:error, %{details: %{reason: :no_manager_for_host}}} =
               Cluster.manager_for_host("host-c", managers: candidates)

      assert {:error, %{code: :not_found, message: message}} =
               Cluster.local_manager(managers: [], host_id: "host-a")

      assert message =~ "no candidates"
    end

    test "the choice is remembered while its manager is connected; refresh: true pings again",
         ctx do
      test_pid = self()
      handler = "cluster-test-pings-#{inspect(make_ref())}"

      :ok =
        SnakepitShm.Telemetry.attach(
          handler,
          [:snakepit, :shm, :ping, :stop],
          fn _event, _measurements, metadata, _config ->
            send(test_pid, {:pinged, metadata.server})
          end,
          nil
        )

      try do
        opts = [managers: managers(ctx), host_id: "host-b"]
        assert {:ok, ctx.b} == Cluster.local_manager(opts)
        assert_received {:pinged, _}
        flush_pings()

        assert {:ok, ctx.b} == Cluster.local_manager(opts)
        refute_received {:pinged, _}, "the remembered choice is used without pinging"

        assert {:ok, ctx.b} == Cluster.local_manager(opts ++ [refresh: true])
        assert flush_pings() |> Enum.sort() == Enum.sort(managers(ctx))

        # Not a candidate any more: chosen again among the new candidates.
        assert {:error, %{details: %{reason: :no_local_manager}}} =
                 Cluster.local_manager(managers: [ctx.a], host_id: "host-b")
      after
        SnakepitShm.Telemetry.detach(handler)
      end
    end

    test "without a list, candidates follow the naming convention <manager_name>@<host>" do
      [_name, host] = node() |> Atom.to_string() |> String.split("@")
      assert :"snakepit_shm@#{host}" in Cluster.managers()
      assert :"mgr@#{host}" in Cluster.managers(manager_name: "mgr")

      Application.put_env(:snakepit_shm, Cluster, managers: ["x@y", :z@w, "x@y"])

      try do
        assert Cluster.managers() == [:x@y, :z@w]
      after
        Application.delete_env(:snakepit_shm, Cluster)
      end
    end
  end

  describe "descriptors of another host" do
    test "ensure_local/2 and acquire/2 refuse them as :not_found, reason :other_host", ctx do
      {:ok, descriptor} = SnakepitShm.allocate(ctx.a, 4096)
      assert :ok == Cluster.ensure_local(descriptor, host_id: "host-a")
      assert Cluster.local?(descriptor, host_id: "host-a")
      refute Cluster.local?(descriptor, host_id: "host-b")

      assert {:error, error} = Cluster.ensure_local(descriptor, host_id: "host-b")
      assert error.code == :not_found

      assert error.details == %{
               reason: :other_host,
               id: descriptor.id,
               host: "host-a",
               local_host: "host-b"
             }

      assert error.message =~ "host host-a"
      assert error.remediation =~ "copy_to_local"

      before = region_ids(ctx.b)
      opts = [managers: managers(ctx), host_id: "host-b"]
      assert {:error, %{details: %{reason: :other_host}}} = Cluster.acquire(descriptor, opts)
      assert MapSet.subset?(region_ids(ctx.b), before), "no region may appear at host-b"

      # On its own host it is acquired at the local manager.
      assert {:ok, %{id: id}} =
               Cluster.acquire(descriptor, managers: managers(ctx), host_id: "host-a")

      assert id == descriptor.id
      assert {:ok, %{refcount: 2}} = SnakepitShm.info(ctx.a, descriptor.id)
      :ok = SnakepitShm.release(ctx.a, descriptor.id)
      :ok = SnakepitShm.release(ctx.a, descriptor.id)
    end

    test "a descriptor without host, or no descriptor at all, is :invalid_request" do
      assert {:error, %{code: :invalid_request, message: message}} =
               Cluster.ensure_local(%{id: "0000000000000001", path: "/dev/shm/x"})

      assert message =~ "carries no host"
      assert {:error, %{code: :invalid_request}} = Cluster.ensure_local("0000000000000001")
    end
  end

  describe "copy_to_local/2" do
    test "copies the bytes into a new region of the local manager and lets go of the original",
         ctx do
      size = 3 * @mib + 5
      {original, bytes} = random_region!(ctx.a, size, session: "cl-s1")
      opts = [managers: managers(ctx), host_id: "host-b", chunk_bytes: @mib, label: "cl-copy"]

      assert {:ok, copy} = Cluster.copy_to_local(original, opts)
      assert copy.host == "host-b"
      assert copy.size == size
      assert copy.session == "cl-s1"
      assert String.starts_with?(copy.path, ctx.dir_b <> "/")
      assert {:ok, ^bytes} = SnakepitShm.read(copy, 0, size)

      assert {:ok, info} = SnakepitShm.info(ctx.b, copy.id)
      assert info.holders == [%{holder: self(), refs: 1}]
      assert info.label == "cl-copy"
      assert {:ok, %{refcount: 1}} = SnakepitShm.info(ctx.a, original.id)

      :ok = SnakepitShm.release(ctx.b, copy.id)
      :ok = SnakepitShm.release(ctx.a, original.id)
    end

    test "one chunk, exact multiples and the default chunk give the same bytes", ctx do
      {original, bytes} = random_region!(ctx.a, 2 * @mib)

      for chunk <- [nil, 2 * @mib, @mib, 1_000_000] do
        opts = [managers: managers(ctx), host_id: "host-b"]
        opts = if chunk, do: opts ++ [chunk_bytes: chunk], else: opts
        assert {:ok, copy} = Cluster.copy_to_local(original, opts)
        assert {:ok, ^bytes} = SnakepitShm.read(copy, 0, 2 * @mib)
        :ok = SnakepitShm.release(ctx.b, copy.id)
      end

      :ok = SnakepitShm.release(ctx.a, original.id)
    end

    test "a local descriptor is not copied but acquired, so the caller holds it either way",
         ctx do
      {:ok, descriptor} = SnakepitShm.allocate(ctx.a, 100)

      assert {:ok, same} =
               Cluster.copy_to_local(descriptor, managers: managers(ctx), host_id: "host-a")

      assert same.id == descriptor.id
      assert {:ok, %{refcount: 2}} = SnakepitShm.info(ctx.a, descriptor.id)
      :ok = SnakepitShm.release(ctx.a, descriptor.id)
      :ok = SnakepitShm.release(ctx.a, descriptor.id)
    end

    test "a wrong token is refused by the owner and leaves nothing behind", ctx do
      {:ok, descriptor} = SnakepitShm.allocate(ctx.a, 4096)
      before = region_ids(ctx.b)
      forged = %{descriptor | token: String.duplicate("0", 32)}

      assert {:error, error} =
               Cluster.copy_to_local(forged, managers: managers(ctx), host_id: "host-b")

      assert error.code == :forbidden
      assert error.details.step == :acquire_remote
      assert MapSet.subset?(region_ids(ctx.b), before), "no region may appear at host-b"
      assert {:ok, %{refcount: 1}} = SnakepitShm.info(ctx.a, descriptor.id)
      :ok = SnakepitShm.release(ctx.a, descriptor.id)
    end

    test "a tenant's region needs the tenant, and the copy belongs to it too", ctx do
      {original, bytes} = random_region!(ctx.a, 10_000, tenant: "cl-t1")
      opts = [managers: managers(ctx), host_id: "host-b"]
      before = region_ids(ctx.b, tenant: "cl-t1")

      assert {:error, %{code: :forbidden, details: %{step: :acquire_remote}}} =
               Cluster.copy_to_local(original, opts)

      assert MapSet.subset?(region_ids(ctx.b, tenant: "cl-t1"), before)

      assert {:ok, copy} = Cluster.copy_to_local(original, opts ++ [tenant: "cl-t1"])
      assert copy.tenant == "cl-t1"
      assert {:ok, ^bytes} = SnakepitShm.read(copy, 0, 10_000)
      :ok = SnakepitShm.release(ctx.b, copy.id, tenant: "cl-t1")
      :ok = SnakepitShm.release(ctx.a, original.id, tenant: "cl-t1")
    end

    test "a failed allocation on the local manager drops the remote reference", ctx do
      {:ok, descriptor} = SnakepitShm.allocate(ctx.a, 4096)
      opts = [managers: managers(ctx), host_id: "host-b", session: String.duplicate("s", 2000)]

      assert {:error, %{code: :invalid_request, details: %{step: :allocate_local}}} =
               Cluster.copy_to_local(descriptor, opts)

      assert {:ok, %{refcount: 1, holders: [%{holder: holder}]}} =
               SnakepitShm.info(ctx.a, descriptor.id)

      assert holder == self()
      :ok = SnakepitShm.release(ctx.a, descriptor.id)
    end

    test "no manager of the descriptor's host, and bad options, are clear errors", ctx do
      {:ok, descriptor} = SnakepitShm.allocate(ctx.a, 4096)
      opts = [managers: managers(ctx), host_id: "host-b"]

      assert {:error,
              %{code: :not_found, details: %{reason: :no_manager_for_host, step: :find_owner}}} =
               Cluster.copy_to_local(%{descriptor | host: "host-c"}, opts)

      for bad <- [0, 64 * @mib + 1, 1.5, "1"] do
        assert {:error, %{code: :invalid_request, details: %{key: :chunk_bytes}}} =
                 Cluster.copy_to_local(descriptor, opts ++ [chunk_bytes: bad])
      end

      assert {:error, %{code: :invalid_request, details: %{key: :colour}}} =
               Cluster.copy_to_local(descriptor, opts ++ [colour: :blue])

      assert {:error, %{code: :invalid_request, message: message}} =
               Cluster.copy_to_local(Map.delete(descriptor, :token), opts)

      assert message =~ "size (a positive integer) and token"

      assert {:error, %{code: :invalid_request}} = Cluster.copy_to_local("not a descriptor", opts)

      :ok = SnakepitShm.release(ctx.a, descriptor.id)
    end
  end

  describe "BEAM peers (separate OS processes)" do
    setup ctx do
      name = "snktest_mix_clpeer_#{ctx.suffix}_#{System.unique_integer([:positive])}"
      {:ok, peer, node} = Demo.start_peer(name, Node.get_cookie(), ctx[:peer_host])
      os_pid = node |> :erpc.call(:os, :getpid, []) |> List.to_integer()

      on_exit(fn ->
        # The peer is linked to the test process and may be stopping already.
        try do
          :peer.stop(peer)
        catch
          :exit, _ -> :ok
        end

        :ok = OsProcess.ensure_exited(os_pid, 5_000)
      end)

      %{peer_node: node, peer: peer}
    end

    @tag peer_host: "host-b"
    test "a BEAM on host-b picks host-b's manager, is refused a host-a descriptor, and copies it",
         ctx do
      # The suite's manager has a cookie of its own; the peer knows only this BEAM's.
      candidates = [ctx.a, ctx.b]

      assert {:ok, ctx.b} ==
               :erpc.call(ctx.peer_node, Cluster, :local_manager, [[managers: candidates]])

      assert "host-b" == :erpc.call(ctx.peer_node, Cluster, :host_id, [])

      consumer =
        Node.spawn(ctx.peer_node, Demo, :consume, [
          self(),
          [managers: candidates, chunk_sizes: [@mib]]
        ])

      assert_receive {:consumer, ^consumer, {:local_manager, {:ok, local}}}, 10_000
      assert local == ctx.b

      {original, bytes} = random_region!(ctx.a, 2 * @mib + 3)
      sha = :crypto.hash(:sha256, bytes) |> Base.encode16(case: :lower)
      send(consumer, {:descriptor, original, sha})

      assert_receive {:consumer, ^consumer, {:refused, refused}}, 10_000

      assert {:error,
              %{
                code: :not_found,
                details: %{reason: :other_host, host: "host-a", local_host: "host-b"}
              }} = refused

      assert_receive {:consumer, ^consumer, {:copied, [copy]}}, 30_000
      assert copy.sha256 == sha
      assert copy.host == "host-b"
      assert String.starts_with?(copy.path, ctx.dir_b <> "/")
      # The peer released its copy and its reference to the original.
      assert {:ok, %{refcount: 1, holders: [%{holder: holder}]}} =
               SnakepitShm.info(ctx.a, original.id)

      assert holder == self()
      :ok = SnakepitShm.release(ctx.a, original.id)
    end

    @tag peer_host: nil
    test "a BEAM without an override picks the manager with the derived host id", ctx do
      server = TestNode.server()
      opts = [managers: [ctx.a, server, ctx.b], cookie: :erlang.get_cookie(server)]
      # The :cookie option is set for every candidate: host-a and host-b do not answer.
      assert {:ok, ^server} = :erpc.call(ctx.peer_node, Cluster, :local_manager, [opts])
    end
  end

  defp flush_pings(acc \\ []) do
    receive do
      {:pinged, server} -> flush_pings([server | acc])
    after
      0 -> acc
    end
  end
end
