# Generates malformed and random requests for the protocol fuzzer (fuzz.exs).
#
# Every random choice goes through :rand with the process's seeded state (seed!/1), so
# a seed reproduces the same sequence of requests. Atoms come from a bounded pool made
# once (atoms are never garbage collected in the BEAM); pids, refs, ports and funs are
# made once too. Requests are grouped in kinds; `request/1` picks a kind by weight and
# returns `{kind, request}`.
defmodule Fuzz.Terms do
  @calls [:allocate, :acquire, :release, :free, :info, :list, :release_session, :stats, :health,
          :gc, :config, :ping, :allocate_many, :release_many]
  # Valid tuple sizes per call (the bare atom is the valid form of the others).
  @tuple_sizes %{allocate: [3], acquire: [3], release: [3], free: [2, 3], info: [2, 3], list: [2],
                 release_session: [2], config: [2], allocate_many: [3], release_many: [3],
                 stats: [], health: [], gc: [], ping: []}
  @option_keys [:holder, :session, :tenant, :sensitive, :ttl_ms, :label, :access, :limit, :token,
                 :operator_key]
  @atom_pool_size 256
  @max_long 2 ** 63 - 1

  # Kinds and their weights in the random mix (deep and large terms are scheduled apart).
  @kinds [wrong_arity: 12, random_args: 15, one_field_broken: 20, random_opts: 12, random_id: 10,
          integers: 10, wrong_types: 8, unknown_atom: 6, config_set: 5, security: 3, valid: 2]

  @typedoc "Terms made once and reused: atoms, numbers, binaries, pids, refs, ports, funs."
  @type pools :: map()

  @doc "Seeds this process's :rand state; the same seed gives the same requests."
  @spec seed!(integer()) :: :ok
  def seed!(seed) do
    _ = :rand.seed(:exsss, {seed, seed + 0x9E3779B9, seed + 0x7F4A7C15})
    :ok
  end

  @doc "The kinds of the random mix, with their weights."
  @spec kinds() :: keyword(pos_integer())
  def kinds, do: @kinds

  @doc """
  Makes the pools. `canary` is the descriptor of a live region that requests may name
  (only in forms that must be rejected: malformed, or without its capability token);
  `config_keys` are the node's configuration keys.
  """
  @spec pools(map(), [atom()]) :: pools()
  def pools(canary, config_keys) do
    dead = spawn(fn -> :ok end)
    ref = Process.monitor(dead)

    receive do
      {:DOWN, ^ref, :process, ^dead, _reason} -> :ok
    end

    idle = spawn(fn -> Process.sleep(:infinity) end)
    atoms = for i <- 1..@atom_pool_size, do: String.to_atom("fuzz_atom_#{i}")
    big = :rand.bytes(8 * 1024 * 1024)

    %{
      canary_id: canary.id,
      canary_token: canary.token,
      config_keys: config_keys,
      atoms: List.to_tuple(atoms ++ special_atoms(config_keys)),
      ints: List.to_tuple(special_ints()),
      floats: {0.0, -0.0, 1.0, -1.5, 64.0, 4096.0, 1.0e308, -1.0e308, 5.0e-324, 3.141592653589793},
      binaries: List.to_tuple(special_binaries()),
      pids: {self(), dead, idle, ghost_pid()},
      refs: {make_ref(), make_ref(), :erlang.make_ref()},
      ports: List.to_tuple(Enum.take(:erlang.ports(), 2)),
      funs: {fn x -> x end, &Enum.map/2, fn -> send(idle, :never) end},
      big: big
    }
  end

  # A pid of a node that does not exist ("ghost@nohost"), from its external format.
  defp ghost_pid do
    name = "ghost@nohost"
    :erlang.binary_to_term(<<131, 88, 118, byte_size(name)::16, name::binary, 42::32, 0::32, 1::32>>)
  end

  defp special_atoms(config_keys) do
    [:"", :"with space", String.to_atom(String.duplicate("a", 255)), :"ünïcödé", :"🐍", nil, true,
     false, :infinity, :read_write, :read_only, :os_pid, :get, :set, :ok, :error, :undefined,
     :Allocate, :ALLOCATE, :"allocate ", :allocatee, :write_only, :"$gen_call", :system] ++
      @calls ++ @option_keys ++ config_keys
  end

  defp special_ints do
    [0, 1, -1, 2, 63, 64, 65, 100, 255, 256, 4096, -4096, 65_535, 65_536, 2 ** 31 - 1, 2 ** 31,
     2 ** 32, 2 ** 53, @max_long, 2 ** 63, 2 ** 64, -(2 ** 63), -(2 ** 63) - 1, -(2 ** 64), 2 ** 200,
     -(2 ** 200), 2 ** 1024, -(2 ** 1024), 2 ** 65_536 - 1, 999_999_999, 4_194_305]
  end

  defp special_binaries do
    ["", "a", "allocate", "ünïcödé", <<0xFF, 0xFE, 0xFD>>, <<0>>, String.duplicate("x", 1024),
     String.duplicate("x", 1025), String.duplicate("é", 513), "FFFFFFFFFFFFFFFF", "0123456789abcde",
     "0123456789abcdef0", "0123456789abcdeg", "0123456789abcdé", "ffffffffffffffff", "0000000000000000",
     "0123456789abcdef0123456789abcdef",
     "snakepit_shm", "/dev/shm/snk", "../../etc/passwd", "%s%n%x", "\r\n\t"]
  end

  # ---------------------------------------------------------------------------------
  # Requests
  # ---------------------------------------------------------------------------------

  @doc "One request of a kind picked by weight: `{kind, request}`."
  @spec request(pools()) :: {atom(), term()}
  def request(p) do
    kind = weighted(@kinds)
    {kind, request(kind, p)}
  end

  @doc "One request of the given kind."
  @spec request(atom(), pools()) :: term()
  def request(:wrong_arity, p) do
    call = pick(@calls)
    valid = @tuple_sizes[call]

    if valid != [] and chance(0.15) do
      call
    else
      size = pick(Enum.to_list(1..7) -- valid)
      List.to_tuple([call | for(_ <- 2..size//1, do: term(p, 2))])
    end
  end

  def request(:random_args, p) do
    call = pick(Map.keys(@tuple_sizes) |> Enum.filter(&(@tuple_sizes[&1] != [])) |> Enum.sort())
    size = pick(@tuple_sizes[call])
    List.to_tuple([call | for(_ <- 2..size//1, do: term(p, 3))])
  end

  def request(:one_field_broken, p) do
    id = if chance(0.3), do: p.canary_id, else: hex_id()

    case uniform(14) do
      1 -> broken({:allocate, 4096, alloc_opts(p)}, [1, 2], p)
      2 -> broken({:allocate, 1_000_000, []}, [1, 2], p)
      3 -> broken({:acquire, id, %{access: :read_only, token: p.canary_token}}, [1, 2], p)
      4 -> broken({:release, id, %{holder: self()}}, [1, 2], p)
      5 -> broken({:free, id}, [1], p)
      6 -> broken({:free, id, %{holder: self()}}, [1, 2], p)
      7 -> broken({:info, id}, [1], p)
      8 -> broken({:list, %{limit: 10, label: "x", session: "s"}}, [1], p)
      9 -> broken({:release_session, "session-1"}, [1], p)
      10 -> broken({:allocate_many, [64, 128, 4096], %{label: "batch"}}, [1, 2], p)
      11 -> broken({:release_many, [id, hex_id()], %{}}, [1, 2], p)
      12 -> broken({:config, {:set, %{grace_ms: 100}}}, [1], p)
      13 -> broken({:info, id, %{tenant: "fuzz-tenant", operator_key: nil}}, [1, 2], p)
      14 -> broken({:list, [operator_key: nil, limit: 5]}, [1], p)
    end
  end

  def request(:random_opts, p) do
    opts = random_opts(p)

    case uniform(8) do
      1 -> {:allocate, pick([64, 4096, 100_000]), opts}
      2 -> {:acquire, hex_id(), opts}
      3 -> {:release, hex_id(), opts}
      4 -> {:free, hex_id(), opts}
      5 -> {:list, opts}
      6 -> {:allocate_many, [64, 128], opts}
      7 -> {:release_many, [hex_id()], opts}
      8 -> {:info, hex_id(), opts}
    end
  end

  def request(:random_id, p) do
    id = random_id(p)

    case uniform(9) do
      1 -> {:info, id}
      2 -> {:acquire, id, %{}}
      3 -> {:release, id, []}
      4 -> {:free, id}
      5 -> {:free, id, %{}}
      6 -> {:release_many, [hex_id(), id], %{}}
      7 -> {:release_many, [id], []}
      8 -> {:info, id, []}
      9 -> {:acquire, id, %{token: p.canary_token}}
    end
  end

  # Capability tokens and operator keys: acquires of the canary without its token (none,
  # a wrong one, or one of the wrong type), the canary's token with other ids, info and
  # list with an operator key or malformed security options.
  def request(:security, p) do
    case uniform(10) do
      1 -> {:acquire, p.canary_id, pick([%{}, [], %{token: nil}, %{access: :read_only}, [tenant: "t"],
                                         %{holder: pick_tuple(p.pids)}])}
      2 -> {:acquire, p.canary_id, %{token: wrong_token(p)}}
      3 -> {:acquire, p.canary_id, pick([%{token: bad_token(p)}, [token: 1, token: p.canary_token],
                                         %{token: p.canary_token, operator_key: "k"}])}
      4 -> pick([{:acquire, hex_id(), %{token: p.canary_token}}, {:acquire, hex_id(), [token: wrong_token(p)]},
                 {:info, hex_id(), pick([%{}, [tenant: "fuzz-tenant"], %{tenant: nil, operator_key: nil}])}])
      5 -> {:info, pick([p.canary_id, hex_id()]), %{operator_key: operator_key()}}
      6 -> {:list, pick([%{operator_key: operator_key()}, [limit: 3, operator_key: operator_key()]])}
      7 -> {:info, pick([p.canary_id, hex_id()]), pick([%{token: p.canary_token}, %{operator_key: bad_token(p)},
                                                         [holder: self()], :all, %{tenant: :t}])}
      8 -> {:list, pick([%{operator_key: bad_token(p)}, [token: p.canary_token], %{limit: 3, operator_key: :root}])}
      9 -> pick([{:release, p.canary_id, %{token: p.canary_token}}, {:free, p.canary_id, [operator_key: "k"]},
                 {:release_many, [p.canary_id], %{token: p.canary_token}}])
      10 -> {:info, p.canary_id, %{}, pick([%{}, [], %{operator_key: nil}])}
    end
  end

  def request(:integers, p) do
    n = integer(p)

    case uniform(10) do
      1 -> {:allocate, n, %{}}
      2 -> {:allocate, 64, %{ttl_ms: n}}
      3 -> {:list, %{limit: n}}
      4 -> {:allocate, 64, %{holder: {:os_pid, n}}}
      5 -> {:allocate_many, [64, n], %{}}
      6 -> {:info, n}
      7 -> n
      8 -> {:config, {:set, %{grace_ms: n, max_regions: integer(p)}}}
      9 -> {:release, hex_id(), %{holder: {:os_pid, n}}}
      10 -> {:allocate, n, [ttl_ms: integer(p)]}
    end
  end

  def request(:wrong_types, p), do: term(p, 3)

  def request(:unknown_atom, p) do
    atom = pick_atom(p)

    case uniform(4) do
      1 -> atom
      2 -> {atom}
      3 -> {atom, term(p, 2)}
      4 -> {atom, hex_id(), %{}}
    end
  end

  def request(:config_set, p) do
    case uniform(6) do
      1 -> {:config, term(p, 2)}
      2 -> {:config, {:set, term(p, 2)}}
      3 -> {:config, {:set, %{}, %{}}}
      _ -> {:config, {:set, config_map(p)}}
    end
  end

  def request(:valid, _p) do
    pick([:stats, :health, :ping, {:config, :get}, {:list, %{limit: 1}}, {:list, []}, :gc,
          {:release_session, "fuzz-no-such-session"}])
  end

  @doc """
  The scheduled heavy requests: terms nested 100,000 deep and binaries of several MB
  (sub-binaries of one 8 MiB random binary). Returns `[{kind, request}]`.
  """
  @spec heavy(pools()) :: [{atom(), term()}]
  def heavy(p) do
    depth = 100_000
    deep_list = Enum.reduce(1..depth, [], fn _, acc -> [acc] end)
    deep_tuple = Enum.reduce(1..depth, :leaf, fn _, acc -> {acc} end)
    deep_map = Enum.reduce(1..depth, %{}, fn _, acc -> %{a: acc} end)
    deep_improper = Enum.reduce(1..depth, :tail, fn _, acc -> [acc | 1] end)
    mib = 1024 * 1024
    big = p.big

    [
      deep: {:allocate, 64, deep_list},
      deep: {:info, deep_tuple},
      deep: {:list, %{label: deep_map}},
      deep: deep_improper,
      deep: {:release, deep_list, %{}},
      deep: {:config, {:set, %{grace_ms: deep_tuple}}},
      large_binary: {:allocate, big, %{}},
      large_binary: {:info, binary_part(big, 1, 6 * mib)},
      large_binary: {:allocate, 64, %{label: binary_part(big, 2, 4 * mib)}},
      large_binary: {:release_session, binary_part(big, 3, 5 * mib)},
      large_binary: {:list, %{binary_part(big, 4, 2 * mib) => 1}}
    ]
  end

  # ---------------------------------------------------------------------------------
  # Breaking one field
  # ---------------------------------------------------------------------------------

  # Replaces one of the fields at `positions` (tuple indexes) with a wrong value.
  defp broken(template, positions, p) do
    position = pick(positions)
    field = elem(template, position)
    put_elem(template, position, break(elem(template, 0), position, field, p))
  end

  defp break(call, 1, _size, p) when call in [:allocate] do
    pick([0, -1, 2 ** 63, 2 ** 64, 2 ** 200, -(2 ** 200), 64.0, "64", :big, nil, [64], {64}, pick_any(p)])
  end

  defp break(call, 1, _sizes, p) when call in [:allocate_many] do
    pick([[], [0], [64, -1], [64 | 128], 64, [64.0], ["64"], List.duplicate(64, 10_001), [2 ** 64],
          pick_any(p)])
  end

  defp break(call, 1, _ids, p) when call in [:release_many] do
    pick([[], [hex_id() | hex_id()], hex_id(), [String.upcase(hex_id())], [1], [nil],
          List.duplicate(hex_id(), 10_001), pick_any(p)])
  end

  defp break(:config, 1, _set, p) do
    pick([{:set, Map.put(%{grace_ms: 100}, pick_atom(p), 1)}, {:set, %{grace_ms: -1}},
          {:set, %{grace_ms: 1.5}}, {:set, %{grace_ms: "100"}}, {:set, %{"grace_ms" => 100}},
          {:set, [grace_ms: 100]}, {:set, %{grace_ms: 2 ** 64}}, {:get, %{}}, :set, {:set},
          {:set, %{max_regions: -5}}, {:set, %{zero_on_free: "never"}}])
  end

  defp break(:list, 1, filter, p), do: break_opts(filter, p)
  defp break(:release_session, 1, _session, p), do: bad_text(p)
  defp break(_call, 1, _id, p), do: bad_id(p)
  defp break(_call, 2, opts, p), do: break_opts(opts, p)

  defp break_opts(opts, p) do
    case uniform(5) do
      1 -> pick([:opts, 42, "opts", {:label, "x"}, 'abc', [{:label, "x"} | :tail], [1, 2, 3],
                 [{:label, "x", :extra}], pick_any(p)])
      2 -> add(opts, pick_atom(p), term(p, 1))
      3 -> add(opts, pick(["label", 1, {:label}, 1.5, self()]), "x")
      _ -> add(opts, pick(@option_keys), bad_value(p))
    end
  end

  defp add(opts, key, value) when is_map(opts), do: Map.put(opts, key, value)
  defp add(opts, key, value) when is_list(opts), do: [{key, value} | opts]

  # A value no option key accepts.
  defp bad_value(p) do
    pick([1.5, -1, 0, 2 ** 64, "x" <> String.duplicate("y", 1100), <<0xFF>>, <<1::3>>, :maybe,
          {:os_pid}, {:os_pid, "1"}, {:os_pid, -5}, {:os_pid, 0}, {:os_pid, 2 ** 40},
          {:pid, self()}, [self()], %{pid: self()}, make_ref(), pick_tuple(p.funs), 'abc', [],
          {}])
  end

  defp bad_text(p) do
    pick([:session, 1, 'abc', ["s"], {"s"}, <<0xFF, 0xFE>>, <<1::7>>, String.duplicate("s", 1025),
          self(), pick_any(p)])
  end

  # Well formed (a binary) but not the canary's token. (Not the token in upper case: the
  # node's token check reads hex digits case-blind.)
  defp wrong_token(p) do
    token = p.canary_token
    <<head::binary-size(31), last>> = token

    pick([head <> if(last == ?0, do: "1", else: "0"), head, token <> "0", "", hex_id() <> hex_id(),
          String.duplicate("0", 32), String.duplicate("g", 32), " " <> head, "ünïcödé"])
  end

  # A token of a type no token has.
  defp bad_token(p) do
    pick([1, :token, String.to_charlist(p.canary_token), [p.canary_token], {p.canary_token}, <<0xFF, 0xFE>>,
          String.duplicate("a", 1025), <<1::3>>, 1.5, self()])
  end

  defp operator_key, do: pick(["", "operator", "0123456789abcdef0123456789abcdef", String.duplicate("k", 64)])

  defp bad_id(p) do
    pick([String.upcase(hex_id()), binary_part(hex_id(), 0, 15), hex_id() <> "0",
          String.replace(hex_id(), ~r/^./, "g"), String.to_charlist(hex_id()), 1, :id, nil,
          [hex_id()], {hex_id()}, <<0::128>>, pick_any(p)])
  end

  # ---------------------------------------------------------------------------------
  # Random parts
  # ---------------------------------------------------------------------------------

  defp alloc_opts(p) do
    %{label: "fuzz", session: "fuzz-session", tenant: "fuzz-tenant", sensitive: false,
      access: :read_write, ttl_ms: 60_000, holder: pick_tuple(p.pids)}
  end

  defp random_opts(p) do
    pairs =
      for _ <- 1..uniform(5) do
        key =
          case uniform(10) do
            n when n <= 6 -> pick(@option_keys)
            n when n <= 8 -> pick_atom(p)
            _ -> term(p, 1)
          end

        value = if chance(0.5), do: plausible(key, p), else: term(p, 2)
        {key, value}
      end

    if chance(0.5), do: Map.new(pairs), else: pairs
  end

  defp plausible(:holder, p),
    do: pick([pick_tuple(p.pids), {:os_pid, String.to_integer(System.pid())}, {:os_pid, 1}])

  defp plausible(key, _p) when key in [:session, :tenant, :label], do: pick(["s", "fuzz", nil, ""])
  defp plausible(:sensitive, _p), do: pick([true, false])
  defp plausible(:ttl_ms, _p), do: pick([1, 100, 60_000, nil])
  defp plausible(:access, _p), do: pick([:read_write, :read_only])
  defp plausible(:limit, _p), do: pick([1, 10, 1000, nil])
  defp plausible(:token, p), do: pick([p.canary_token, wrong_token(p), nil])
  defp plausible(:operator_key, _p), do: pick([operator_key(), nil])
  defp plausible(_key, p), do: term(p, 1)

  defp random_id(p) do
    case uniform(6) do
      1 -> :rand.bytes(uniform(40) - 1)
      2 -> hex_id()
      3 -> bad_id(p)
      4 -> Base.encode16(:rand.bytes(8))
      5 -> pick_tuple(p.binaries)
      6 -> term(p, 1)
    end
  end

  # A map for {:config, {:set, map}} with at least one key the node does not know, so it
  # is rejected as a whole (the node validates every key before changing any).
  defp config_map(p) do
    known =
      for _ <- 0..uniform(3)//1, into: %{} do
        {pick(p.config_keys), pick([integer(p), pick_atom(p), term(p, 1)])}
      end

    unknown = pick([pick_atom(p), "grace_ms", 1, {:grace_ms}, self()])
    Map.put(known, unknown, term(p, 1))
  end

  defp integer(p) do
    case uniform(4) do
      1 -> uniform(200) - 100
      2 -> random_bignum()
      _ -> pick_tuple(p.ints)
    end
  end

  defp random_bignum do
    bits = uniform(4096)
    magnitude = :rand.uniform(2 ** bits)
    if chance(0.5), do: magnitude, else: -magnitude
  end

  @doc "A random term up to `depth` levels of nesting."
  @spec term(pools(), non_neg_integer()) :: term()
  def term(p, depth) do
    if depth <= 0 or chance(0.55), do: scalar(p), else: composite(p, depth - 1)
  end

  defp scalar(p) do
    case uniform(12) do
      1 -> integer(p)
      2 -> pick_tuple(p.floats)
      3 -> :rand.uniform() * 1.0e6 - 5.0e5
      4 -> pick_atom(p)
      5 -> pick_tuple(p.binaries)
      6 -> :rand.bytes(uniform(64) - 1)
      7 -> bitstring()
      8 -> pick_tuple(p.pids)
      9 -> pick_tuple(p.refs)
      10 -> if tuple_size(p.ports) > 0, do: pick_tuple(p.ports), else: make_ref()
      11 -> pick_tuple(p.funs)
      12 -> hex_id()
    end
  end

  # A bitstring whose bit count is not a multiple of 8.
  defp bitstring do
    value = uniform(255)
    bits = uniform(7)
    <<value::size(bits)>>
  end

  defp composite(p, depth) do
    case uniform(7) do
      1 -> for _ <- 1..uniform(6)//1, do: term(p, depth)
      2 -> List.to_tuple(for _ <- 0..uniform(6)//1, do: term(p, depth))
      3 -> Map.new(for _ <- 1..uniform(5)//1, do: {term(p, depth), term(p, depth)})
      4 -> [term(p, depth), term(p, depth) | scalar(p)]
      5 -> for _ <- 1..uniform(4)//1, do: {pick_atom(p), term(p, depth)}
      6 -> for _ <- 1..uniform(20)//1, do: 31 + uniform(95)
      7 -> [0x1F40D, 0x10FFFF, 0xD7FF, 255, 0]
    end
  end

  # ---------------------------------------------------------------------------------
  # Random choice helpers
  # ---------------------------------------------------------------------------------

  @doc "A fresh 16-digit lowercase hex id (well-formed; no region has it)."
  @spec hex_id() :: String.t()
  def hex_id, do: Base.encode16(:rand.bytes(8), case: :lower)

  defp pick_any(p), do: term(p, 1)
  defp pick_atom(p), do: pick_tuple(p.atoms)
  defp pick(list) when is_list(list), do: Enum.at(list, uniform(length(list)) - 1)
  defp pick_tuple(tuple), do: elem(tuple, uniform(tuple_size(tuple)) - 1)
  defp uniform(n), do: :rand.uniform(n)
  defp chance(probability), do: :rand.uniform() < probability

  defp weighted(weights) do
    total = weights |> Keyword.values() |> Enum.sum()
    pick_weighted(weights, uniform(total))
  end

  defp pick_weighted([{kind, weight} | rest], n) do
    if n <= weight, do: kind, else: pick_weighted(rest, n - weight)
  end
end
