# One load lane of a soak client: a process that loops allocate / write / verify /
# hand over / release against the manager, checking the invariants as it goes.
Code.require_file("soak_python.exs", __DIR__)

defmodule Soak.Lane do
  @moduledoc """
  Each cycle: re-verify the regions kept from earlier cycles, allocate a new one (pooled
  or dedicated, some sensitive), write version 0 of its pattern with `:file.pwrite`,
  check it and then do one of:

    * `:shared_holder` - a second process of this BEAM acquires it and is killed; the
      lane still holds it, so it must stay live with its bytes;
    * `:sole_holder` - the lane releases, the second process is the only holder and is
      killed; the region must be deallocated (grace period), counted as reclaimed;
    * `:python` - acquired for a Python worker (`{:os_pid, pid}`), which verifies the
      pattern, sometimes becomes the only holder, writes the next version; the lane
      takes it back and verifies that version with `:file.pread`;
    * `:plain` - nothing more;

  then keeps it (up to 3 regions) or releases / frees it. Sometimes it calls `:gc`.

  One writer at a time: a region's bytes are written only by the process the lane is
  currently talking to (the lane itself or one Python worker, never both).

  Invariant checks (`check_live/2`, `verify/2`): while a holder holds a region, `{:info,
  id}` says live with the same generation, the region header read with `:file.pread`
  says `SNKR`, state live, same id and generation, and the payload equals the last
  version written. An anomaly is a violation unless it is explained: the manager's
  incarnation changed (node killed: all of this lane's regions are lost, counted as
  `lost_node_kill`), or the only holder was a Python worker that is dead now (counted as
  `lost_worker_kill`).

  Regions the lane is responsible for are registered in the ETS table `:soak_regions`
  under `{lane, id}`, so the client can count them when the lane dies with its node
  (`:noconnection`).
  """

  @max_kept 3
  @gc_probability 0.02
  @holder_reply_ms 15_000
  @reclaim_slack_ms 5_000
  @node_wait_ms 60_000

  @doc "Starts lane `lane` (its `restarts`-th incarnation), linked to the caller."
  @spec start_link(map(), non_neg_integer(), non_neg_integer()) :: pid()
  def start_link(ctx, lane, restarts) do
    spawn_link(fn -> run(Map.merge(ctx, %{lane: lane, restarts: restarts})) end)
  end

  defp run(ctx) do
    :rand.seed(:exsss, {ctx.seed, ctx.client * 1000 + ctx.lane, ctx.restarts})
    loop(connect(ctx), [])
  end

  # --- the loop ----------------------------------------------------------

  defp connect(s) do
    case Soak.Manager.await_up(s.node, @node_wait_ms) do
      {:ok, inc} ->
        config =
          case Soak.Manager.call(s.node, {:config, :get}) do
            {:reply, {:ok, config}} -> config
            other -> E2E.fail!("{:config, :get} replied #{inspect(other)}")
          end

        Map.merge(s, %{inc: inc, grace_ms: config.grace_ms, poll_ms: config.os_pid_poll_ms,
                       dedicated_bytes: config.dedicated_threshold_bytes})

      :stop ->
        exit(:normal)

      {:gave_up, reason} ->
        Soak.Report.violation(:node_unreachable, s, "manager #{s.node} did not answer :ping " <>
          "within #{@node_wait_ms} ms: #{inspect(reason)}")
        exit(:normal)
    end
  end

  defp loop(s, kept) do
    receive do
      :stop ->
        try do
          Enum.each(kept, &finish(s, &1))
        catch
          # Reported already (or the manager is gone): let go of what is left.
          :throw, _ -> drop_all(s)
        end

        exit(:normal)
    after
      0 -> :ok
    end

    {s, kept} =
      try do
        {s, cycle(s, kept)}
      catch
        :throw, {:node_lost, why} ->
          lost = drop_all(s)
          Soak.Stats.bump(:lost_node_kill, lost)
          IO.puts(:stderr, "soak lane #{s.client}.#{s.lane}: manager #{s.node} (os pid #{s.inc}) " <>
                             "lost (#{inspect(why)}); #{lost} region(s) gone with it; reconnecting")
          s = connect(s)
          Soak.Stats.bump(:node_reconnects)
          {s, []}

        :throw, :abandon ->
          drop_all(s)
          {s, []}

        :throw, {:region_lost, _id} ->
          # Only a Python worker held it and died (counted); forget the rest too.
          drop_all(s)
          {s, []}
      end

    Process.sleep(2 + :rand.uniform(10))
    loop(s, kept)
  end

  defp cycle(s, kept) do
    kept = Enum.flat_map(kept, &reverify(s, &1))
    if :rand.uniform() < @gc_probability, do: gc(s)
    r = fresh(s)

    r =
      case pick([{0.15, :shared_holder}, {0.10, :sole_holder}, {0.45, :python}, {0.30, :plain}]) do
        :shared_holder -> shared_holder(s, r)
        :sole_holder -> sole_holder(s, r)
        :python -> python(s, r)
        :plain -> r
      end

    cond do
      r == nil -> kept
      length(kept) < @max_kept and :rand.uniform() < 0.4 -> [r | kept]
      true ->
        finish(s, r)
        kept
    end
  end

  defp reverify(s, r) do
    check_live(s, r)
    verify(s, r)

    r = if :rand.uniform() < 0.25, do: python(s, r), else: r

    cond do
      r == nil -> []
      :rand.uniform() < 0.3 ->
        finish(s, r)
        []

      true ->
        [r]
    end
  end

  # --- the steps -----------------------------------------------------------

  defp fresh(s) do
    size = pick_size(s)
    sensitive = :rand.uniform() < 0.25
    desc = ok!(s, {:allocate, size, %{label: "soak", sensitive: sensitive}})
    Soak.Stats.bump(:allocations)
    r = track(s, %{desc: desc, inc: s.inc, version: 0, lane_holds: true, python: nil, sub: nil})

    if desc.size != size do
      Soak.Report.violation(:unexpected_reply, s, "allocate #{size} gave size #{desc.size}")
      throw(:abandon)
    end

    write(s, r)
    check_live(s, r)
    verify(s, r)
    r
  end

  defp shared_holder(s, r) do
    holder = spawn_holder(s, r)
    check_live(s, r)
    kill_holder(holder)
    Soak.Stats.bump(:holder_kills_shared)
    # Past the grace period the holder's death has been handled: the lane's reference
    # must still keep the region alive, bytes included.
    Process.sleep(s.grace_ms + 50)
    check_live(s, r)
    verify(s, r)
    r
  end

  defp sole_holder(s, r) do
    holder = spawn_holder(s, r)
    r = release_own(s, track(s, %{r | sub: holder}))
    check_live(s, r)
    verify(s, r)
    killed_ms = now_ms()
    kill_holder(holder)
    await_reclaimed(s, r, killed_ms, killed_ms + s.grace_ms + @reclaim_slack_ms)
    untrack(s, r)
    Soak.Stats.bump(:holder_kills_sole)
    nil
  end

  defp python(s, r) do
    slot = :rand.uniform(s.workers) - 1

    with {:ok, os_pid} <- Soak.Python.whois(slot),
         {:ok, r} <- python_acquire(s, r, os_pid) do
      Soak.Stats.bump(:python_handoffs)
      python_round(s, r, slot, os_pid)
    else
      _ ->
        Soak.Stats.bump(:python_skips)
        r
    end
  end

  defp python_acquire(s, r, os_pid) do
    case reply(s, {:acquire, r.desc.id, %{holder: {:os_pid, os_pid}, token: r.desc.token}}) do
      {:ok, %{generation: generation}} when generation == r.desc.generation ->
        Soak.Stats.bump(:acquires)
        {:ok, track(s, %{r | python: os_pid})}

      {:error, %{code: :invalid_request}} = error ->
        # The worker died between whois and acquire: fine if it really is dead.
        if Soak.Os.alive?(os_pid), do: unexpected(s, r, :acquire_for_python, error), else: :skip

      other ->
        unexpected(s, r, :acquire_for_python, other)
    end
  end

  # The worker verifies, maybe becomes the only holder, writes the next version; the lane
  # takes the region back, drops the worker's reference and verifies. nil when the region
  # went with its dead only holder.
  defp python_round(s, r, slot, os_pid) do
    r = python_steps(s, r, slot, os_pid)
    r = take_back(s, r)
    r = drop_python(s, r, os_pid)
    # A fill cut short by the worker's death left unknown bytes: the lane rewrites them.
    r = if r.version == :torn, do: write(s, %{r | version: 1_000 + :rand.uniform(1_000)}), else: r
    check_live(s, r)
    verify(s, r)
  catch
    :throw, {:region_lost, _id} -> nil
  end

  defp python_steps(s, r, slot, os_pid) do
    case python_op(s, r, slot, os_pid, "pattern_verify", r.version) do
      :worker_died ->
        r

      :ok ->
        Soak.Stats.bump(:verifies_python)
        r = if :rand.uniform() < 0.5, do: check_live(s, release_own(s, r)), else: r

        case python_op(s, r, slot, os_pid, "pattern_fill", r.version + 1) do
          :ok ->
            Soak.Stats.bump(:fills_python)
            %{r | version: r.version + 1}

          :worker_died ->
            %{r | version: :torn}
        end
    end
  end

  defp python_op(s, r, slot, os_pid, op, version) do
    json = ~s({"op":"#{op}","region":#{E2E.json(r.desc)},"version":#{version}})

    case Soak.Python.request(slot, os_pid, json) do
      {:ok, "ok match=0" <> detail} ->
        anomaly(s, r, :checksum_mismatch, "python #{os_pid} #{op} version #{version}:#{detail}",
                :holder_alive)

      {:ok, "ok" <> _} ->
        :ok

      {:ok, "error " <> error} ->
        # The worker holds the region and answered, so it was alive: it saw it freed,
        # reused or corrupt.
        anomaly(s, r, :freed_while_held, "python #{os_pid} #{op}: #{error}", :holder_alive)

      {:error, why} when why in [:worker_died, :worker_replaced] ->
        Soak.Stats.bump(:python_ops_interrupted)
        :worker_died

      {:error, why} ->
        Soak.Report.violation(:python_no_reply, s, "python #{os_pid} #{op}: #{inspect(why)}")
        throw(:abandon)
    end
  end

  # The lane holds the region again (acquiring it if the worker was its only holder).
  defp take_back(_s, %{lane_holds: true} = r), do: r

  defp take_back(s, r) do
    case reply(s, {:acquire, r.desc.id, %{token: r.desc.token}}) do
      {:ok, %{generation: generation}} when generation == r.desc.generation ->
        Soak.Stats.bump(:acquires)
        track(s, %{r | lane_holds: true})

      other ->
        anomaly(s, r, :freed_while_held, "re-acquire: #{inspect(other, limit: 12)}")
    end
  end

  defp drop_python(s, r, os_pid) do
    case reply(s, {:release, r.desc.id, %{holder: {:os_pid, os_pid}}}) do
      :ok ->
        Soak.Stats.bump(:releases)

      {:error, %{code: code}} = error when code in [:forbidden, :not_found, :invalid_request] ->
        # Its references went with it when it died (a release naming a dead os_pid holder
        # is :invalid_request, "no such process is running").
        if Soak.Os.alive?(os_pid), do: unexpected(s, r, :release_for_python, error)

      other ->
        unexpected(s, r, :release_for_python, other)
    end

    track(s, %{r | python: nil})
  end

  defp release_own(s, r) do
    case reply(s, {:release, r.desc.id, %{}}) do
      :ok -> Soak.Stats.bump(:releases)
      other -> unexpected(s, r, :release, other)
    end

    track(s, %{r | lane_holds: false})
  end

  # The lane's last reference: release or free.
  defp finish(s, r) do
    request = if :rand.uniform() < 0.3, do: {:free, r.desc.id}, else: {:release, r.desc.id, %{}}

    case reply(s, request) do
      :ok -> Soak.Stats.bump(if call_name(request) == :free, do: :frees, else: :releases)
      other -> unexpected(s, r, call_name(request), other)
    end

    untrack(s, r)
  end

  defp gc(s) do
    case reply(s, :gc) do
      {:ok, %{}} -> Soak.Stats.bump(:gc_calls)
      other -> unexpected(s, nil, :gc, other)
    end
  end

  # --- holder processes of this BEAM ---------------------------------------

  defp spawn_holder(s, r) do
    lane = self()
    id = r.desc.id
    token = r.desc.token

    holder =
      spawn_link(fn ->
        send(lane, {:holder_acquired, self(), Soak.Manager.call(s.node, {:acquire, id, %{token: token}})})
        Process.sleep(:infinity)
      end)

    Soak.Stats.bump(:holder_spawns)

    receive do
      {:holder_acquired, ^holder, {:reply, {:ok, %{generation: generation}}}}
      when generation == r.desc.generation ->
        Soak.Stats.bump(:acquires)
        holder

      {:holder_acquired, ^holder, other} ->
        kill_holder(holder)
        unexpected(s, r, :holder_acquire, other)
    after
      @holder_reply_ms ->
        kill_holder(holder)
        Soak.Report.violation(:call_timeout, s, "holder acquire of #{id}: no reply")
        throw(:abandon)
    end
  end

  defp kill_holder(holder) do
    ref = Process.monitor(holder)
    Process.unlink(holder)
    Process.exit(holder, :kill)

    receive do
      {:DOWN, ^ref, :process, ^holder, _} -> :ok
    end
  end

  # After its only holder was killed, the region must go within grace + slack.
  defp await_reclaimed(s, r, killed_ms, deadline_ms) do
    case reply(s, {:info, r.desc.id}) do
      {:error, %{code: :not_found}} ->
        # Not_found from a restarted manager would prove nothing.
        steady!(s, r, :reclaim)
        Soak.Stats.raise_to(:holder_reclaim_ms_max, now_ms() - killed_ms)

      {:ok, %{generation: generation}} when generation == r.desc.generation ->
        if now_ms() > deadline_ms do
          Soak.Report.violation(:not_reclaimed, s, "region #{r.desc.id} still there " <>
            "#{now_ms() - killed_ms} ms after its only holder was killed (grace #{s.grace_ms} ms)")
          throw(:abandon)
        end

        Process.sleep(10)
        await_reclaimed(s, r, killed_ms, deadline_ms)

      other ->
        unexpected(s, r, :info, other)
    end
  end

  # --- checks ----------------------------------------------------------------

  # While its holder holds it: info live with the same generation, header live.
  defp check_live(s, r) do
    case reply(s, {:info, r.desc.id}) do
      {:ok, %{state: :live, generation: generation}} when generation == r.desc.generation ->
        Soak.Stats.bump(:info_checks)

      {:ok, info} ->
        kind = if info[:state] == :invalid, do: :invalid_region, else: :freed_while_held

        anomaly(s, r, kind, "info: state #{inspect(info[:state])} generation " <>
          "#{inspect(info[:generation])} refcount #{inspect(info[:refcount])} holders #{inspect(info[:holders])}")

      other ->
        anomaly(s, r, :freed_while_held, "info: #{inspect(other, limit: 12)}")
    end

    case Soak.Pattern.check_header(r.desc) do
      :ok -> Soak.Stats.bump(:header_checks)
      {:bad, detail} -> anomaly(s, r, :freed_while_held, detail)
    end

    r
  end

  defp verify(s, r) do
    d = r.desc
    expected = Soak.Pattern.bytes(d.id, d.generation, r.version, d.size)

    case Soak.Pattern.read(d) do
      {:ok, ^expected} ->
        Soak.Stats.bump(:verifies_elixir)

      {:ok, actual} ->
        at = Soak.Pattern.first_difference(actual, expected)
        anomaly(s, r, :checksum_mismatch, "pread of version #{r.version}: first difference at " <>
          "byte #{at} (expected #{:binary.at(expected, at)}, read #{:binary.at(actual, at)})")

      {:error, reason} ->
        anomaly(s, r, :freed_while_held, "pread: #{inspect(reason)}")
    end

    r
  end

  defp write(s, r) do
    d = r.desc

    case Soak.Pattern.write(d, Soak.Pattern.bytes(d.id, d.generation, r.version, d.size)) do
      :ok -> Soak.Stats.bump(:writes_elixir)
      {:error, reason} -> anomaly(s, r, :freed_while_held, "pwrite: #{inspect(reason)}")
    end

    track(s, r)
  end

  # Something is wrong with a region a holder of ours holds. Explained when the manager
  # was killed meanwhile (throws {:node_lost, _}) or when its only holder was a Python
  # worker that is dead now (throws {:region_lost, id}); otherwise a violation (throws
  # :abandon). `known` is :holder_alive when the observation itself proves the holder
  # alive (a reply of the Python worker holding it).
  defp anomaly(s, r, kind, detail, known \\ :check) do
    steady!(s, r, kind)

    holder =
      cond do
        r.lane_holds -> "the lane"
        r.sub != nil and Process.alive?(r.sub) -> "holder process #{inspect(r.sub)}"
        r.python != nil and known == :holder_alive -> "python worker #{r.python}"
        r.python != nil and Soak.Os.alive?(r.python) -> "python worker #{r.python} (alive after)"
        true -> nil
      end

    if holder do
      Soak.Report.violation(kind, s, "region #{r.desc.id} generation #{r.desc.generation} " <>
        "size #{r.desc.size} version #{r.version} held by #{holder}, manager os pid #{s.inc}: #{detail}")

      throw(:abandon)
    else
      Soak.Stats.bump(:lost_worker_kill)
      untrack(s, r)
      throw({:region_lost, r.desc.id})
    end
  end

  # The manager that served the region still runs: same incarnation before and after.
  # A manager that does not answer :ping for 3 tries of 3 s is reported as unresponsive.
  defp steady!(s, r, what, tries \\ 3) do
    case Soak.Manager.incarnation(s.node) do
      {:down, :timeout} when tries > 1 ->
        steady!(s, r, what, tries - 1)

      {:ok, inc} when inc == s.inc and (r == nil or inc == r.inc) ->
        :ok

      {:ok, other} ->
        throw({:node_lost, {what, :restarted_as, other}})

      {:down, :timeout} ->
        Soak.Report.violation(:node_unresponsive, s, "no :ping reply in 3 tries of 3 s after #{inspect(what)}")
        throw(:abandon)

      {:down, reason} ->
        throw({:node_lost, {what, reason}})
    end
  end

  defp unexpected(s, r, what, other) do
    steady!(s, r, what)
    id = if r, do: r.desc.id, else: "-"
    Soak.Report.violation(:unexpected_reply, s, "#{inspect(what)} of #{id}: #{inspect(other, limit: 12)}")
    throw(:abandon)
  end

  # --- calls -------------------------------------------------------------------

  defp ok!(s, request) do
    case reply(s, request) do
      {:ok, value} -> value
      other -> unexpected(s, nil, call_name(request), other)
    end
  end

  defp reply(s, request, busy_retries \\ 20) do
    case Soak.Manager.call(s.node, request) do
      {:reply, {:error, %{code: :busy}}} when busy_retries > 0 ->
        Soak.Stats.bump(:busy_retries)
        Process.sleep(50)
        reply(s, request, busy_retries - 1)

      {:reply, value} ->
        value

      {:down, :timeout} ->
        steady!(s, nil, {:timeout, call_name(request)})
        Soak.Report.violation(:call_timeout, s, "#{inspect(request, limit: 6)}: no reply within 10 s")
        throw(:abandon)

      {:down, reason} ->
        steady!(s, nil, {:down, reason})
        Soak.Report.violation(:unexpected_reply, s, "#{inspect(request, limit: 6)} exited: #{inspect(reason)}")
        throw(:abandon)
    end
  end

  defp call_name(request) when is_tuple(request), do: elem(request, 0)
  defp call_name(request), do: request

  # --- bookkeeping ---------------------------------------------------------------

  defp track(s, r) do
    :ets.insert(:soak_regions, {{s.lane, r.desc.id}, r})
    r
  end

  defp untrack(s, r), do: :ets.delete(:soak_regions, {s.lane, r.desc.id})

  # Forgets every region of this lane (best-effort release of what may still be held);
  # returns how many there were.
  defp drop_all(s) do
    regions = :ets.match_object(:soak_regions, {{s.lane, :_}, :_})

    for {key, r} <- regions do
      :ets.delete(:soak_regions, key)
      if r.python, do: Soak.Manager.call(s.node, {:release, r.desc.id, %{holder: {:os_pid, r.python}}}, 2_000)
      if r.lane_holds, do: Soak.Manager.call(s.node, {:release, r.desc.id, %{}}, 2_000)
    end

    length(regions)
  end

  defp pick_size(s) do
    if :rand.uniform() < 0.75 do
      # pooled: 64 B to 256 KiB, log-uniform, odd sizes included
      min(trunc(:math.pow(2, 6 + :rand.uniform() * 12)) + :rand.uniform(64) - 1, s.dedicated_bytes)
    else
      s.dedicated_bytes + :rand.uniform(2 * 1024 * 1024)
    end
  end

  defp pick(weighted) do
    x = :rand.uniform()

    Enum.reduce_while(weighted, 0.0, fn {weight, choice}, acc ->
      if x < acc + weight, do: {:halt, choice}, else: {:cont, acc + weight}
    end)
    |> case do
      choice when is_atom(choice) -> choice
      _ -> weighted |> List.last() |> elem(1)
    end
  end

  defp now_ms, do: System.monotonic_time(:millisecond)
end
