defmodule SnakepitShm.AppConfigTest do
  # Not async: it changes the application environment and this BEAM's OS environment,
  # which every NodeProcess.start/1 reads.
  use ExUnit.Case, async: false

  alias SnakepitShm.{NodeProcess, OsProcess}

  @moduletag timeout: 120_000

  setup do
    saved_app_env = Application.fetch_env(:snakepit, :shared_memory)
    saved_os_env = for key <- os_env_keys(), into: %{}, do: {key, System.get_env(key)}

    on_exit(fn ->
      case saved_app_env do
        {:ok, value} -> Application.put_env(:snakepit, :shared_memory, value)
        :error -> Application.delete_env(:snakepit, :shared_memory)
      end

      for {key, value} <- saved_os_env do
        if value, do: System.put_env(key, value), else: System.delete_env(key)
      end
    end)

    :ok
  end

  defp os_env_keys, do: ["SNAKEPIT_SHM_GRACE_MS", "SNAKEPIT_SHM_ALERT_FRAGMENTATION_PERCENT"]

  test "explicit options win over the application environment, :config key by key" do
    Application.put_env(:snakepit, :shared_memory,
      name: "from_app",
      shm_dir: "/dev/shm/from-app",
      audit_log: "/tmp/audit.jsonl",
      config: %{grace_ms: 321, history_events: 5}
    )

    opts = NodeProcess.effective_opts(name: "explicit", config: [history_events: 7])

    assert opts[:name] == "explicit"
    assert opts[:shm_dir] == "/dev/shm/from-app"
    assert opts[:config] == %{grace_ms: 321, history_events: 7}

    assert NodeProcess.launcher_args(opts, "/tmp/c") == [
             "node",
             "--name",
             "explicit",
             "--cookie-file",
             "/tmp/c",
             "--shm-dir",
             "/dev/shm/from-app",
             "--audit-log",
             "/tmp/audit.jsonl",
             "--set",
             "grace_ms=321",
             "--set",
             "history_events=7",
             "--exit-on-stdin-eof"
           ]
  end

  test "a config file and atom values are passed as the node reads them" do
    Application.delete_env(:snakepit, :shared_memory)

    opts =
      NodeProcess.effective_opts(
        config_file: "/tmp/node.conf",
        config: %{"max_holder_bytes" => :infinity, zero_on_free: :always}
      )

    assert NodeProcess.launcher_args(opts, "/tmp/c") == [
             "node",
             "--cookie-file",
             "/tmp/c",
             "--config",
             "/tmp/node.conf",
             "--set",
             "max_holder_bytes=infinity",
             "--set",
             "zero_on_free=always",
             "--exit-on-stdin-eof"
           ]

    # The older form: a string :config is the config file.
    assert NodeProcess.effective_opts(config: "/tmp/old.conf")[:config_file] == "/tmp/old.conf"
  end

  test "a bad :config entry is refused before anything starts" do
    Application.put_env(:snakepit, :shared_memory, config: %{grace_ms: 1.5})

    assert {:error, %{code: :invalid_request, details: %{key: :grace_ms}, message: message}} =
             NodeProcess.start(launcher: "/nonexistent/launcher")

    assert message =~ "1.5"

    Application.delete_env(:snakepit, :shared_memory)

    assert {:error, %{code: :invalid_request, message: message}} =
             NodeProcess.start(config: %{"Grace MS" => 1})

    assert message =~ "Grace MS"

    assert {:error, %{code: :invalid_request}} = NodeProcess.start(config: 42)
    assert {:error, %{code: :invalid_request}} = NodeProcess.start(config: [:grace_ms])
  end

  test "the application environment reaches the node; --set wins over SNAKEPIT_SHM_<KEY>" do
    suffix = Base.encode16(:crypto.strong_rand_bytes(5), case: :lower)
    shm_dir = "/dev/shm/snktest-mix-cfg-#{suffix}"
    log_path = Path.join(System.tmp_dir!(), "snktest-mix-cfg-#{suffix}-node.log")
    audit_path = Path.join(System.tmp_dir!(), "snktest-mix-cfg-#{suffix}-audit.jsonl")
    File.mkdir!(shm_dir)
    File.chmod!(shm_dir, 0o700)

    # registered first, so a node that fails to start leaves nothing behind either
    on_exit(fn ->
      File.rm_rf!(shm_dir)
      File.rm(log_path)
      File.rm(audit_path)
    end)

    cookie = NodeProcess.random_cookie()

    Application.put_env(:snakepit, :shared_memory,
      name: "snktest_mix_cfg_#{suffix}",
      cookie: cookie,
      shm_dir: shm_dir,
      audit_log: audit_path,
      config: %{grace_ms: 321}
    )

    # The node inherits this environment: the variable loses to --set grace_ms=321, the
    # other one applies.
    System.put_env("SNAKEPIT_SHM_GRACE_MS", "999")
    System.put_env("SNAKEPIT_SHM_ALERT_FRAGMENTATION_PERCENT", "42")

    {:ok, node_process} = NodeProcess.start(stderr_path: log_path)

    on_exit(fn -> :ok = OsProcess.ensure_exited(node_process.os_pid, 5_000) end)

    server = node_process.node
    assert Atom.to_string(server) =~ "snktest_mix_cfg_#{suffix}@"
    :ok = SnakepitShm.connect(server, cookie: cookie)

    assert {:ok, %{grace_ms: 321, alert_fragmentation_percent: 42}} = SnakepitShm.config(server)
    assert {:ok, %{shm_dir: ^shm_dir}} = SnakepitShm.health(server)

    {:ok, region} = SnakepitShm.allocate(server, 64)
    :ok = SnakepitShm.release(server, region.id)
    :ok = NodeProcess.stop(node_process)

    # The audit log named in the application environment got the region's events.
    assert File.read!(audit_path) =~ region.id
  end
end
