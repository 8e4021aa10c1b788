defmodule SnakepitShm.SecurityTest do
  # Not async: it counts the node's security events (other tests cause some too) and one
  # test switches acquire_token to :optional for everyone.
  use ExUnit.Case, async: false

  alias SnakepitShm.{NodeProcess, TestNode}

  @security_kinds [
    :tenant_denied,
    :not_holder,
    :read_only_write,
    :bad_token,
    :bad_operator_key,
    :freed_region,
    :freed_id,
    :unknown_id,
    :stale_generation,
    :shm_dir
  ]

  setup do
    %{server: TestNode.server()}
  end

  describe "capability tokens" do
    test "acquire needs the region's token: none or a wrong one is :forbidden, the descriptor works",
         %{server: server} do
      {other, region} = TestNode.spawn_holder(4096)
      assert region.token =~ ~r/\A[0-9a-f]{32}\z/
      wrong = wrong_token(region.token)
      before = security_counts(server)

      assert {:error, %{code: :forbidden, message: missing, remediation: remediation}} =
               SnakepitShm.acquire(server, region.id)

      assert missing =~ "needs its token"
      assert remediation =~ "descriptor"

      assert {:error, %{code: :forbidden, message: mismatch}} =
               SnakepitShm.acquire(server, region.id, token: wrong)

      assert mismatch =~ "token does not match"

      # An explicit token: wins over the descriptor's.
      assert {:error, %{code: :forbidden}} = SnakepitShm.acquire(server, region, token: wrong)

      assert delta(before, security_counts(server)) == %{bad_token: 3}
      assert {:ok, %{refcount: 1} = info} = SnakepitShm.info(server, region.id)
      refute Map.has_key?(info, :token), "info must not give the capability token away"

      assert {:ok, by_descriptor} = SnakepitShm.acquire(server, region)
      assert by_descriptor.id == region.id and by_descriptor.token == region.token
      assert {:ok, _} = SnakepitShm.acquire(server, region.id, token: region.token)
      me = self()
      assert {:ok, %{refcount: 3, holders: holders}} = SnakepitShm.info(server, region.id)
      assert Enum.find(holders, &(&1.holder == me)).refs == 2
      assert delta(before, security_counts(server)) == %{bad_token: 3}

      assert {:ok, %{security: security}} = SnakepitShm.health(server)
      assert security.acquire_token == :required

      region_id = region.id

      assert Enum.any?(
               security.recent,
               &match?(%{kind: :bad_token, call: :acquire, id: ^region_id}, &1)
             ),
             "no bad_token event for #{region.id} in #{inspect(security.recent)}"

      assert :ok = SnakepitShm.release(server, region.id)
      assert :ok = SnakepitShm.release(server, region.id)
      Process.exit(other, :kill)
    end

    test "acquire of something that is neither a descriptor nor an id is :invalid_request",
         %{server: server} do
      assert {:error, %{code: :invalid_request, message: message}} =
               SnakepitShm.acquire(server, 42)

      assert message =~ "descriptor"
    end

    test "with acquire_token :optional an id alone is enough, a wrong token still is not",
         %{server: server} do
      {:ok, %{acquire_token: :required}} = SnakepitShm.config(server)
      on_exit(fn -> {:ok, _} = SnakepitShm.config_set(server, %{acquire_token: :required}) end)
      {other, region} = TestNode.spawn_holder(4096)

      assert {:ok, %{acquire_token: :optional}} =
               SnakepitShm.config_set(server, %{acquire_token: :optional})

      assert {:ok, %{security: %{acquire_token: :optional}}} = SnakepitShm.health(server)
      before = security_counts(server)

      assert {:ok, %{id: id}} = SnakepitShm.acquire(server, region.id)
      assert id == region.id

      assert {:error, %{code: :forbidden}} =
               SnakepitShm.acquire(server, region.id, token: wrong_token(region.token))

      assert delta(before, security_counts(server)) == %{bad_token: 1}
      assert :ok = SnakepitShm.release(server, region.id)

      # Back to :required: the id alone is refused again.
      assert {:ok, %{acquire_token: :required}} =
               SnakepitShm.config_set(server, %{acquire_token: :required})

      assert {:error, %{code: :forbidden}} = SnakepitShm.acquire(server, region.id)
      assert delta(before, security_counts(server)) == %{bad_token: 2}
      Process.exit(other, :kill)
    end
  end

  describe "tenants" do
    test "a tenant's region refuses acquire, release, free and info without that tenant",
         %{server: server} do
      tenant = TestNode.unique("tenant")
      stranger = TestNode.unique("tenant")
      {:ok, region} = SnakepitShm.allocate(server, 4096, tenant: tenant)
      assert region.tenant == tenant
      before = security_counts(server)

      denied = [
        acquire: fn opts -> SnakepitShm.acquire(server, region, opts) end,
        release: fn opts -> SnakepitShm.release(server, region.id, opts) end,
        free: fn opts -> SnakepitShm.free(server, region.id, opts) end,
        info: fn opts -> SnakepitShm.info(server, region.id, opts) end
      ]

      for {name, call} <- denied, opts <- [[], [tenant: stranger]] do
        assert {:error, %{code: :forbidden, message: message}} = call.(opts),
               "#{name} with #{inspect(opts)}"

        assert message =~ "tenant"
      end

      assert delta(before, security_counts(server)) == %{tenant_denied: 8}

      # Nothing was changed by the denied calls.
      assert {:ok, %{refcount: 1, state: :live, tenant: ^tenant}} =
               SnakepitShm.info(server, region.id, tenant: tenant)

      assert {:ok, again} = SnakepitShm.acquire(server, region, tenant: tenant)
      assert again.tenant == tenant
      assert {:ok, %{refcount: 2}} = SnakepitShm.info(server, region.id, tenant: tenant)
      assert :ok = SnakepitShm.release(server, region.id, tenant: tenant)
      assert :ok = SnakepitShm.free(server, region.id, tenant: tenant)
      assert {:ok, %{state: :freed}} = SnakepitShm.info(server, region.id, tenant: tenant)
      assert delta(before, security_counts(server)) == %{tenant_denied: 8}

      # health names the events a tenant caused only to that tenant (or an operator)
      assert {:ok, %{security: %{recent: recent}}} = SnakepitShm.health(server, tenant: stranger)
      region_id = region.id
      assert {:ok, %{security: %{recent: own}}} = SnakepitShm.health(server, tenant: tenant)
      refute Enum.any?(own, &match?(%{tenant: ^stranger}, &1)), inspect(own)

      assert Enum.any?(
               recent,
               &match?(%{kind: :tenant_denied, id: ^region_id, tenant: ^stranger}, &1)
             ),
             "no tenant_denied event for #{region_id} in #{inspect(recent)}"
    end

    test "list shows only the regions of the filter's tenant, none of other tenants",
         %{server: server} do
      session = TestNode.unique("sec-list")
      [t1, t2] = [TestNode.unique("tenant"), TestNode.unique("tenant")]
      {:ok, plain} = SnakepitShm.allocate(server, 256, session: session)
      {:ok, of_t1} = SnakepitShm.allocate(server, 256, session: session, tenant: t1)
      {:ok, of_t2} = SnakepitShm.allocate(server, 256, session: session, tenant: t2)

      assert list_ids(server, session: session) == [plain.id]
      assert list_ids(server, session: session, tenant: t1) == [of_t1.id]
      assert list_ids(server, %{session: session, tenant: t2}) == [of_t2.id]

      :ok = SnakepitShm.release(server, plain.id)
      :ok = SnakepitShm.release(server, of_t1.id, tenant: t1)
      :ok = SnakepitShm.release(server, of_t2.id, tenant: t2)
    end

    test "on a node without an operator key any operator_key is :forbidden", %{server: server} do
      {:ok, region} = SnakepitShm.allocate(server, 256)
      key = random_key()
      before = security_counts(server)

      assert {:error, %{code: :forbidden, message: message, remediation: remediation}} =
               SnakepitShm.list(server, operator_key: key)

      assert message =~ "no operator key"
      assert remediation =~ "--operator-key-file"

      assert {:error, %{code: :forbidden}} =
               SnakepitShm.info(server, region.id, operator_key: key)

      assert delta(before, security_counts(server)) == %{bad_operator_key: 2}
      assert {:ok, %{security: %{operator_key: false}}} = SnakepitShm.health(server)
      :ok = SnakepitShm.release(server, region.id)
    end
  end

  describe "stale ids" do
    test "a freed region's id is :not_found with reason :freed; a made-up id with :unknown",
         %{server: server} do
      {:ok, region} = SnakepitShm.allocate(server, 256)
      freed_at = System.monotonic_time(:millisecond)
      assert :ok = SnakepitShm.free(server, region.id)
      TestNode.await_gone(region.id, freed_at)
      before = security_counts(server)

      assert {:error, %{code: :not_found, details: %{reason: :freed, id: id}}} =
               SnakepitShm.info(server, region.id)

      assert id == region.id

      assert {:error, %{code: :not_found, details: %{reason: :freed}}} =
               SnakepitShm.acquire(server, region)

      assert {:error, %{code: :not_found, details: %{reason: :freed}}} =
               SnakepitShm.release(server, region.id)

      assert delta(before, security_counts(server)) == %{freed_id: 3}

      assert {:error, %{code: :not_found, details: %{reason: :unknown}}} =
               SnakepitShm.info(server, "00000000ffffffff")

      assert delta(before, security_counts(server)) == %{freed_id: 3, unknown_id: 1}
    end

    test "stats count every security kind, and health reports the same counts",
         %{server: server} do
      assert {:ok, %{security: counts}} = SnakepitShm.stats(server)
      assert Enum.sort(Map.keys(counts)) == Enum.sort(@security_kinds)
      assert Enum.all?(Map.values(counts), &(is_integer(&1) and &1 >= 0))

      assert {:ok, %{security: security, checks: checks}} = SnakepitShm.health(server)
      assert Enum.sort(Map.keys(security.events)) == Enum.sort(@security_kinds)
      assert security.events_total == Enum.sum(Map.values(security.events))
      assert security.events_total >= Enum.sum(Map.values(counts))
      assert security.shm_dir_problems == []
      assert %{status: :ok} = Enum.find(checks, &(&1.name == :security))
    end
  end

  describe "operator key" do
    setup :start_operator_node

    test "an operator lists and inspects every tenant's regions; a wrong key is :forbidden",
         %{operator_node: server, key: key} do
      session = TestNode.unique("sec-op")
      [t1, t2] = [TestNode.unique("tenant"), TestNode.unique("tenant")]
      {:ok, plain} = SnakepitShm.allocate(server, 256, session: session)
      {:ok, of_t1} = SnakepitShm.allocate(server, 256, session: session, tenant: t1)
      {:ok, of_t2} = SnakepitShm.allocate(server, 256, session: session, tenant: t2)

      assert {:ok, %{security: %{operator_key: true}}} = SnakepitShm.health(server)

      assert list_ids(server, session: session, operator_key: key) ==
               Enum.sort([plain.id, of_t1.id, of_t2.id])

      assert list_ids(server, session: session, tenant: t2, operator_key: key) == [of_t2.id]
      # Without the key, the same caller sees only regions without a tenant.
      assert list_ids(server, session: session) == [plain.id]

      assert {:ok, %{tenant: ^t1, refcount: 1}} =
               SnakepitShm.info(server, of_t1.id, operator_key: key)

      assert {:error, %{code: :forbidden}} = SnakepitShm.info(server, of_t1.id)
      before = security_counts(server)

      assert {:error, %{code: :forbidden, message: message}} =
               SnakepitShm.list(server, session: session, operator_key: key <> "x")

      assert message =~ "does not match"

      assert {:error, %{code: :forbidden}} =
               SnakepitShm.info(server, of_t1.id, operator_key: String.reverse(key))

      assert delta(before, security_counts(server)) == %{bad_operator_key: 2}

      :ok = SnakepitShm.release(server, plain.id)
      :ok = SnakepitShm.release(server, of_t1.id, tenant: t1)
      :ok = SnakepitShm.release(server, of_t2.id, tenant: t2)
    end

    @tag operator_key_mode: 0o644
    test "a node refuses an operator key file others may read", %{start_result: result} do
      assert {:error, %{code: :platform_error, message: message}} = result
      assert message =~ "--operator-key-file"
      assert message =~ "chmod 600"
    end
  end

  # ---------------------------------------------------------------------------------
  # Helpers
  # ---------------------------------------------------------------------------------

  # Starts a node of its own with an operator key file of mode `operator_key_mode` (tag;
  # default 0600). The key file, shm dir, log and node are removed in every case.
  defp start_operator_node(context) do
    suffix = Base.encode16(:crypto.strong_rand_bytes(5), case: :lower)
    shm_dir = "/dev/shm/snktest-mix-op-#{suffix}"
    log_path = Path.join(System.tmp_dir!(), "snktest-mix-op-#{suffix}-node.log")
    key_path = Path.join(System.tmp_dir!(), "snktest-mix-op-#{suffix}.key")
    key = random_key()

    on_exit(fn ->
      File.rm_rf!(shm_dir)
      File.rm(log_path)
      File.rm(key_path)
    end)

    File.mkdir!(shm_dir)
    File.chmod!(shm_dir, 0o700)
    # Created empty and exclusive, given its mode, and only then the key.
    :ok = File.write(key_path, "", [:exclusive])
    :ok = File.chmod(key_path, Map.get(context, :operator_key_mode, 0o600))
    :ok = File.write(key_path, key <> "\n")
    cookie = NodeProcess.random_cookie()

    result =
      NodeProcess.start(
        name: "snktest_mix_op_#{suffix}",
        cookie: cookie,
        shm_dir: shm_dir,
        stderr_path: log_path,
        operator_key_file: key_path
      )

    case result do
      {:ok, node_process} ->
        # Runs before the files are removed (on_exit callbacks run last first).
        on_exit(fn -> :ok = NodeProcess.stop(node_process) end)
        :ok = SnakepitShm.connect(node_process.node, cookie: cookie)
        %{operator_node: node_process.node, key: key, start_result: result}

      {:error, error} ->
        if Map.has_key?(context, :operator_key_mode),
          do: %{start_result: result},
          else: flunk("the node with an operator key did not start: #{error.message}")
    end
  end

  defp security_counts(server) do
    {:ok, %{security: counts}} = SnakepitShm.stats(server)
    counts
  end

  # The kinds whose count changed, with by how much.
  defp delta(before, now) do
    for kind <- @security_kinds, now[kind] != before[kind], into: %{} do
      {kind, now[kind] - before[kind]}
    end
  end

  defp list_ids(server, filter) do
    {:ok, infos} = SnakepitShm.list(server, filter)
    infos |> Enum.map(& &1.id) |> Enum.sort()
  end

  # The same token with its last hex digit changed: well formed, but not the region's.
  defp wrong_token(token) do
    {head, last} = String.split_at(token, -1)
    head <> if(last == "0", do: "1", else: "0")
  end

  defp random_key, do: 24 |> :crypto.strong_rand_bytes() |> Base.url_encode64(padding: false)
end
