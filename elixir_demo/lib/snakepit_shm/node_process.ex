defmodule SnakepitShm.NodeProcess do
  @moduledoc """
  Starts the snakepit-shm node (`java_node/bin/snakepit-shm node`) as a Port and stops it.

  The node runs with `--exit-on-stdin-eof`, so when its Port closes — by `stop/2`, or
  because the BEAM exits — the node sees EOF on stdin and shuts down, unlinking its
  segments. It is never left orphaned.

  The Port is owned by a small process started here, not by the caller: it drains the
  node's stdout after the `ready` line (so nothing piles up in the caller's mailbox),
  and it monitors the caller, closing the Port when the caller exits. The cookie is
  written to a temporary file of mode 0600 (removed once the node is ready), never put
  on a command line.

  ## Configuration

  Options come from the application environment, then from `start/1`'s argument, later
  ones winning key by key:

      # config/config.exs (or runtime.exs)
      config :snakepit, :shared_memory,
        name: "snakepit_shm",
        cookie: "...",
        shm_dir: "/dev/shm",
        operator_key_file: "/etc/snakepit/operator.key",
        audit_log: "/var/log/snakepit/shm-audit.jsonl",
        config: %{grace_ms: 200, max_total_bytes: 8_589_934_592}

  1. `config :snakepit, :shared_memory, ...` (a keyword list, read at every `start/1`);
  2. the options given to `start/1`. The `:config` maps of both are merged key by key
     (a key given to `start/1` wins); every other option given to `start/1` replaces
     the application environment's.

  The node gets the options as flags (`--name`, `--shm-dir`, `--config`,
  `--operator-key-file`, `--audit-log`) and each `:config` entry as `--set key=value`.
  On the node the configuration is resolved as (OPERATIONS.md "Configuration"):
  defaults < the `--config` file < environment variables `SNAKEPIT_SHM_<KEY>` (the node
  inherits this BEAM's environment) < `--set` flags. So a `:config` entry wins over the
  same key in a config file or in the environment; `SnakepitShm.config_set/3` changes
  the running node afterwards.
  """

  alias SnakepitShm.{Error, OsProcess, Paths}

  @typedoc "A running node."
  @type t :: %{
          port: port(),
          node: node(),
          os_pid: pos_integer(),
          owner: pid(),
          cookie: atom(),
          launcher: Path.t()
        }

  @typedoc """
  Options of `start/1`:

    * `:name` — node name, short (`"snk1"`) or full; default: the launcher's default
      (`snakepit_shm@<short host name>`);
    * `:cookie` — atom or string; default: this BEAM's cookie when it is distributed,
      else a random one (returned as `:cookie`);
    * `:shm_dir` — where segments live (default: the node's, `/dev/shm`);
    * `:config` — node configuration entries, a map or keyword list such as
      `%{grace_ms: 200}` (keys and values as in `SnakepitShm.config_set/3`: integers or
      atoms), each passed as `--set key=value`; for compatibility a path (a string) is
      taken as `:config_file`;
    * `:config_file` — a configuration file for `--config` (`key = value` lines);
    * `:audit_log` — append region and security events to this file as JSON lines
      (`--audit-log`); default: env `SNAKEPIT_SHM_AUDIT_LOG`, else none;
    * `:operator_key_file` — the operator key file for `--operator-key-file` (a regular
      file of this user, mode 0600 or 0400, at least 16 characters; the node refuses to
      start otherwise); default: none, so the node has no operators;
    * `:launcher` — path of the launcher; default: env `SNAKEPIT_SHM_LAUNCHER`, else
      `../java_node/bin/snakepit-shm` relative to this mix project;
    * `:stderr_path` — append the node's stderr to this file (default: inherited);
    * `:echo` — print the node's stdout lines after `ready` (default `false`);
    * `:ready_timeout_ms` — how long to wait for the `ready` line (default 30000);
    * `:controller` — the process whose exit closes the Port (default: the caller of
      `start/1`); `SnakepitShm.Manager` starts the node from a helper process and names
      itself here;
    * `:notify` — a pid that is sent `{:snakepit_shm_node_exited, owner, %{node: node,
      os_pid: n, status: exit_status}}` when the node exits on its own (it crashed, was
      killed, or stopped by a signal), `owner` being the `:owner` of the map `start/1`
      returned; not sent after `stop/2`. Default: none.
  """
  @type start_opts :: [
          name: String.t() | atom(),
          cookie: String.t() | atom(),
          shm_dir: Path.t(),
          config: map() | keyword() | Path.t(),
          config_file: Path.t(),
          audit_log: Path.t(),
          operator_key_file: Path.t(),
          launcher: Path.t(),
          stderr_path: Path.t(),
          echo: boolean(),
          ready_timeout_ms: pos_integer(),
          controller: pid(),
          notify: pid() | nil
        ]

  @default_ready_timeout_ms 30_000
  @default_stop_timeout_ms 10_000
  @max_kept_lines 40

  @doc """
  Starts the node and waits for its `ready <node>` line.

  `opts` are merged over the application environment's `config :snakepit,
  :shared_memory` (see "Configuration" above). Returns `{:ok, %{port: port, node: node,
  os_pid: n, owner: pid, cookie: cookie, launcher: path}}`, an `:invalid_request` error
  for a bad `:config` entry, or an error naming the launcher and showing its last output
  lines.
  """
  @spec start(start_opts()) :: {:ok, t()} | {:error, Error.t()}
  def start(opts \\ []) do
    opts = effective_opts(opts)
    launcher = launcher(opts)
    ready_timeout_ms = Keyword.get(opts, :ready_timeout_ms, @default_ready_timeout_ms)

    with :ok <- check_config(opts[:config]),
         :ok <- check_launcher(launcher) do
      caller = self()
      tag = make_ref()
      cookie = cookie(opts)

      {owner, monitor_ref} =
        spawn_monitor(fn -> owner_start(caller, tag, launcher, cookie, opts, ready_timeout_ms) end)

      receive do
        {^tag, result} ->
          Process.demonitor(monitor_ref, [:flush])
          result

        {:DOWN, ^monitor_ref, :process, ^owner, reason} ->
          Error.new(
            :platform_error,
            "the process starting the snakepit-shm node exited: #{inspect(reason)}",
            "this is a bug in SnakepitShm.NodeProcess; please report it"
          )
      end
    end
  end

  @doc """
  Stops the node: closes its Port (stdin EOF makes the node shut down) and waits up to
  `timeout_ms` for the OS process to end, then sends TERM and finally KILL.

  After `Port.close/1` no `exit_status` message is delivered, so the end of the OS
  process is observed by its pid. Returns `:ok`, or an error when it would not end.
  """
  @spec stop(t(), non_neg_integer()) :: :ok | {:error, Error.t()}
  def stop(%{owner: owner, os_pid: os_pid}, timeout_ms \\ @default_stop_timeout_ms) do
    monitor_ref = Process.monitor(owner)
    send(owner, {:stop, self(), monitor_ref, timeout_ms})

    receive do
      {^monitor_ref, result} ->
        Process.demonitor(monitor_ref, [:flush])
        result

      {:DOWN, ^monitor_ref, :process, ^owner, _reason} ->
        # The owner was gone already (its Port closed with it): make sure of the node.
        end_os_process(os_pid, timeout_ms)
    end
  end

  @doc """
  Checks `opts` (merged over the application environment, as `start/1` does) without
  starting anything: the `:config` entries and the launcher. Returns `:ok` or the error
  `start/1` would return for them.
  """
  @spec check_opts(start_opts()) :: :ok | {:error, Error.t()}
  def check_opts(opts \\ []) do
    opts = effective_opts(opts)

    with :ok <- check_config(opts[:config]) do
      check_launcher(launcher(opts))
    end
  end

  @doc "The launcher `start/1` would use for `opts`."
  @spec launcher(keyword()) :: Path.t()
  def launcher(opts \\ []) do
    opts[:launcher] || System.get_env("SNAKEPIT_SHM_LAUNCHER") || Paths.default_launcher()
  end

  @doc """
  The options `start/1` uses for `opts`: the application environment's `config
  :snakepit, :shared_memory` with `opts` merged over it (the `:config` maps key by key).
  A string `:config` becomes `:config_file`.

      # config :snakepit, :shared_memory, shm_dir: "/dev/shm/a", config: [grace_ms: 1]
      opts = SnakepitShm.NodeProcess.effective_opts(shm_dir: "/dev/shm/b", config: %{max_regions: 9})
      {opts[:shm_dir], opts[:config]}
      #=> {"/dev/shm/b", %{grace_ms: 1, max_regions: 9}}
  """
  @spec effective_opts(keyword()) :: keyword()
  def effective_opts(opts \\ []) when is_list(opts) do
    app_opts = :snakepit |> Application.get_env(:shared_memory, []) |> normalize_opts()
    opts = normalize_opts(opts)

    config =
      case {Keyword.get(app_opts, :config, %{}), Keyword.get(opts, :config, %{})} do
        {app_config, config} when is_map(app_config) and is_map(config) ->
          Map.merge(app_config, config)

        # Not a map: kept for start/1 to refuse with a clear message.
        {app_config, config} ->
          if Keyword.has_key?(opts, :config), do: config, else: app_config
      end

    app_opts
    |> Keyword.merge(opts)
    |> Keyword.put(:config, config)
  end

  # A keyword list whose :config is a map; a string :config is a config file.
  @spec normalize_opts(keyword() | map() | nil) :: keyword()
  defp normalize_opts(nil), do: []
  defp normalize_opts(opts) when is_map(opts), do: normalize_opts(Map.to_list(opts))

  defp normalize_opts(opts) when is_list(opts) do
    case Keyword.get(opts, :config) do
      nil ->
        Keyword.delete(opts, :config)

      path when is_binary(path) ->
        opts |> Keyword.delete(:config) |> Keyword.put_new(:config_file, path)

      config when is_map(config) ->
        opts

      config when is_list(config) ->
        if Enum.all?(config, &match?({_key, _value}, &1)),
          do: Keyword.put(opts, :config, Map.new(config)),
          else: opts

      other ->
        # Left as is for check_config/1 to refuse with a clear message.
        Keyword.put(opts, :config, other)
    end
  end

  @doc """
  The command-line arguments given to the launcher for `opts` (as `effective_opts/1`
  returns them) and a cookie file. `:config` entries become `--set key=value` flags, in
  key order.
  """
  @spec launcher_args(keyword(), Path.t()) :: [String.t()]
  def launcher_args(opts, cookie_file) do
    {config_file, config} =
      case opts[:config] do
        path when is_binary(path) -> {path, %{}}
        config -> {opts[:config_file], config || %{}}
      end

    ["node"] ++
      optional_arg("--name", opts[:name]) ++
      ["--cookie-file", cookie_file] ++
      optional_arg("--shm-dir", opts[:shm_dir]) ++
      optional_arg("--config", config_file) ++
      optional_arg("--operator-key-file", opts[:operator_key_file]) ++
      optional_arg("--audit-log", opts[:audit_log]) ++
      set_args(config) ++
      ["--exit-on-stdin-eof"]
  end

  @spec set_args(map() | keyword()) :: [String.t()]
  defp set_args(config) do
    config
    |> Enum.map(fn {key, value} -> {config_text(key), config_text(value)} end)
    |> Enum.sort()
    |> Enum.flat_map(fn {key, value} -> ["--set", key <> "=" <> value] end)
  end

  @spec config_text(atom() | integer() | String.t()) :: String.t()
  defp config_text(value) when is_atom(value), do: Atom.to_string(value)
  defp config_text(value) when is_integer(value), do: Integer.to_string(value)
  defp config_text(value) when is_binary(value), do: value

  # Each entry must make a `--set key=value` the node can parse.
  @spec check_config(term()) :: :ok | {:error, Error.t()}
  defp check_config(config) when is_map(config) do
    Enum.find_value(config, :ok, fn {key, value} ->
      cond do
        not config_key?(key) ->
          bad_config(
            "bad configuration key #{inspect(key)}: use an atom or string of lower-case " <>
              "letters, digits and _ (like :grace_ms)",
            key
          )

        not config_value?(value) ->
          bad_config(
            "bad value #{inspect(value)} for configuration key #{key}: use an integer or " <>
              "an atom (like :infinity)",
            key
          )

        true ->
          nil
      end
    end)
  end

  defp check_config(other) do
    Error.new(
      :invalid_request,
      "the :config option of SnakepitShm.NodeProcess is a map or keyword list of " <>
        "configuration keys (or a config file path), not #{inspect(other)}",
      "write it as config: %{grace_ms: 200}"
    )
  end

  @spec config_key?(term()) :: boolean()
  defp config_key?(key) when is_atom(key) and key not in [nil, true, false],
    do: config_key?(Atom.to_string(key))

  defp config_key?(key) when is_binary(key), do: key =~ ~r/\A[a-z][a-z0-9_]*\z/
  defp config_key?(_key), do: false

  @spec config_value?(term()) :: boolean()
  defp config_value?(value) when is_integer(value) or is_atom(value), do: true

  defp config_value?(value) when is_binary(value),
    do: value != "" and not String.contains?(value, ["\n", "\r", "\0"])

  defp config_value?(_value), do: false

  @spec bad_config(String.t(), term()) :: {:error, Error.t()}
  defp bad_config(message, key) do
    Error.new(
      :invalid_request,
      message,
      "see {:config, :get} (SnakepitShm.config/2) for the keys and their values",
      %{key: key}
    )
  end

  # ---------------------------------------------------------------------------------
  # The owner process
  # ---------------------------------------------------------------------------------

  @spec owner_start(pid(), reference(), Path.t(), atom(), keyword(), pos_integer()) :: :ok
  defp owner_start(caller, tag, launcher, cookie, opts, ready_timeout_ms) do
    caller_ref = Process.monitor(Keyword.get(opts, :controller) || caller)

    case write_cookie_file(cookie) do
      {:ok, cookie_file} ->
        result =
          try do
            open_and_wait(launcher, cookie, cookie_file, opts, ready_timeout_ms)
          after
            File.rm(cookie_file)
          end

        case result do
          {:ok, info} ->
            send(caller, {tag, {:ok, info}})
            owner_loop(info, caller_ref, Keyword.get(opts, :echo, false), opts[:notify])

          {:error, _} = error ->
            send(caller, {tag, error})
        end

      {:error, _} = error ->
        send(caller, {tag, error})
    end

    :ok
  end

  @spec open_and_wait(Path.t(), atom(), Path.t(), keyword(), pos_integer()) ::
          {:ok, t()} | {:error, Error.t()}
  defp open_and_wait(launcher, cookie, cookie_file, opts, ready_timeout_ms) do
    args = launcher_args(opts, cookie_file)
    port = open_port(launcher, args, opts[:stderr_path])
    {:os_pid, os_pid} = Port.info(port, :os_pid)
    deadline = System.monotonic_time(:millisecond) + ready_timeout_ms

    case await_ready(port, deadline, "", []) do
      {:ok, node} ->
        {:ok,
         %{
           port: port,
           node: node,
           os_pid: os_pid,
           owner: self(),
           cookie: cookie,
           launcher: launcher
         }}

      {:exited, status, lines} ->
        start_failed(launcher, args, opts, "exited with status #{status}", lines)

      {:timeout, lines} ->
        Port.close(port)
        _ = OsProcess.ensure_exited(os_pid, 2_000)

        start_failed(
          launcher,
          args,
          opts,
          "printed no `ready` line within #{ready_timeout_ms} ms",
          lines
        )
    end
  end

  @spec open_port(Path.t(), [String.t()], Path.t() | nil) :: port()
  defp open_port(launcher, args, nil) do
    Port.open({:spawn_executable, launcher}, [
      :binary,
      :exit_status,
      :use_stdio,
      {:line, 4096},
      {:args, args}
    ])
  end

  # Redirects stderr through /bin/sh; `exec` keeps the launcher's OS pid.
  defp open_port(launcher, args, stderr_path) do
    script = ~S(exec "$0" "$@" 2>>"$SNAKEPIT_SHM_STDERR_PATH")

    Port.open({:spawn_executable, "/bin/sh"}, [
      :binary,
      :exit_status,
      :use_stdio,
      {:line, 4096},
      {:args, ["-c", script, launcher | args]},
      {:env, [{~c"SNAKEPIT_SHM_STDERR_PATH", String.to_charlist(stderr_path)}]}
    ])
  end

  @spec await_ready(port(), integer(), binary(), [String.t()]) ::
          {:ok, node()} | {:exited, integer(), [String.t()]} | {:timeout, [String.t()]}
  defp await_ready(port, deadline, partial, lines) do
    remaining_ms = max(deadline - System.monotonic_time(:millisecond), 0)

    receive do
      {^port, {:data, {:noeol, chunk}}} ->
        await_ready(port, deadline, partial <> chunk, lines)

      {^port, {:data, {:eol, chunk}}} ->
        case partial <> chunk do
          "ready " <> node_name ->
            {:ok, node_name |> String.trim() |> String.to_atom()}

          line ->
            await_ready(port, deadline, "", keep_line(lines, line))
        end

      {^port, {:exit_status, status}} ->
        {:exited, status, Enum.reverse(lines)}
    after
      remaining_ms -> {:timeout, Enum.reverse(lines)}
    end
  end

  @spec owner_loop(t(), reference(), boolean(), pid() | nil) :: :ok
  defp owner_loop(%{port: port, os_pid: os_pid} = info, caller_ref, echo?, notify) do
    receive do
      {^port, {:data, {_eol, line}}} ->
        if echo?, do: IO.puts(:stderr, "[snakepit-shm node] " <> line)
        owner_loop(info, caller_ref, echo?, notify)

      {^port, {:exit_status, status}} ->
        if echo?, do: IO.puts(:stderr, "[snakepit-shm node] exited with status #{status}")

        if is_pid(notify) do
          send(
            notify,
            {:snakepit_shm_node_exited, self(),
             %{node: info.node, os_pid: os_pid, status: status}}
          )
        end

        owner_exited()

      {:stop, from, reply_ref, timeout_ms} ->
        Port.close(port)
        send(from, {reply_ref, end_os_process(os_pid, timeout_ms)})

      {:DOWN, ^caller_ref, :process, _caller, _reason} ->
        Port.close(port)
        _ = end_os_process(os_pid, @default_stop_timeout_ms)
        :ok
    end
  end

  # The node ended on its own; answer a later stop/2 and wait for the caller to go.
  @spec owner_exited() :: :ok
  defp owner_exited do
    receive do
      {:stop, from, reply_ref, _timeout_ms} -> send(from, {reply_ref, :ok})
      {:DOWN, _ref, :process, _caller, _reason} -> :ok
    end

    :ok
  end

  # ---------------------------------------------------------------------------------
  # Helpers
  # ---------------------------------------------------------------------------------

  @spec end_os_process(pos_integer(), non_neg_integer()) :: :ok | {:error, Error.t()}
  defp end_os_process(os_pid, timeout_ms) do
    case OsProcess.ensure_exited(os_pid, timeout_ms) do
      :ok ->
        :ok

      :error ->
        Error.new(
          :platform_error,
          "the snakepit-shm node (OS pid #{os_pid}) did not exit after stdin EOF, " <>
            "TERM and KILL",
          "kill it by hand and check its log",
          %{os_pid: os_pid}
        )
    end
  end

  @spec check_launcher(Path.t()) :: :ok | {:error, Error.t()}
  defp check_launcher(launcher) do
    case File.stat(launcher) do
      {:ok, %File.Stat{type: :regular, mode: mode}} when Bitwise.band(mode, 0o111) != 0 ->
        :ok

      _ ->
        Error.new(
          :not_found,
          "the snakepit-shm launcher #{launcher} does not exist or is not executable",
          "build the project (scripts/build.sh), or point opts[:launcher] or " <>
            "SNAKEPIT_SHM_LAUNCHER at the launcher",
          %{launcher: launcher}
        )
    end
  end

  @spec cookie(keyword()) :: atom()
  defp cookie(opts) do
    case opts[:cookie] do
      nil -> if Node.alive?(), do: Node.get_cookie(), else: random_cookie()
      cookie when is_binary(cookie) -> String.to_atom(cookie)
      cookie when is_atom(cookie) -> cookie
    end
  end

  @doc "A random cookie of 32 base32 characters (160 random bits)."
  @spec random_cookie() :: atom()
  def random_cookie do
    20 |> :crypto.strong_rand_bytes() |> Base.encode32(padding: false) |> String.to_atom()
  end

  @spec write_cookie_file(atom()) :: {:ok, Path.t()} | {:error, Error.t()}
  defp write_cookie_file(cookie) do
    suffix = 8 |> :crypto.strong_rand_bytes() |> Base.encode16(case: :lower)
    path = Path.join(System.tmp_dir!(), "snakepit-shm-cookie-#{suffix}")

    # Created empty and exclusive, made 0600, and only then given the cookie.
    with :ok <- File.write(path, "", [:exclusive]),
         :ok <- File.chmod(path, 0o600),
         :ok <- File.write(path, Atom.to_string(cookie)) do
      {:ok, path}
    else
      {:error, reason} ->
        _ = File.rm(path)

        Error.new(
          :platform_error,
          "could not write the cookie file #{path}: #{:file.format_error(reason)}",
          "make sure System.tmp_dir!/0 (#{System.tmp_dir!()}) is writable",
          %{errno: reason}
        )
    end
  end

  @spec optional_arg(String.t(), term()) :: [String.t()]
  defp optional_arg(_flag, nil), do: []
  defp optional_arg(flag, value), do: [flag, to_string(value)]

  @spec keep_line([String.t()], String.t()) :: [String.t()]
  defp keep_line(lines, line), do: Enum.take([line | lines], @max_kept_lines)

  @spec start_failed(Path.t(), [String.t()], keyword(), String.t(), [String.t()]) ::
          {:error, Error.t()}
  defp start_failed(launcher, args, opts, what, lines) do
    output =
      (lines ++ stderr_tail(opts[:stderr_path]))
      |> Enum.map_join("\n", &("    " <> &1))

    Error.new(
      :platform_error,
      "the snakepit-shm node (#{launcher} #{Enum.join(args, " ")}) #{what}" <>
        if(output == "", do: "", else: "; its output:\n" <> output),
      "run the launcher by hand with the same arguments to see why; " <>
        "is the jar built (scripts/build.sh) and the name free?",
      %{launcher: launcher}
    )
  end

  @spec stderr_tail(Path.t() | nil) :: [String.t()]
  defp stderr_tail(nil), do: []

  defp stderr_tail(path) do
    case File.read(path) do
      {:ok, text} -> text |> String.split("\n", trim: true) |> Enum.take(-@max_kept_lines)
      {:error, _} -> []
    end
  end
end
