# Sends malformed requests (and well-formed ones with a wrong capability token or operator
# key, which are :forbidden); each must get {:error, %{code: atom, message: binary}} with
# the expected code, the node must keep serving and a canary region must stay untouched.
# Prints CASE_<name>=<code> (or BAD:<reply>) per request, CASES, BAD, then CANARY=ok,
# VALID=ok, HEALTH=<status> and REGIONS=<live regions at the end>. Exits 1 if any is BAD.
#
#   elixir ... malformed.exs NODE
Code.require_file("support.exs", __DIR__)

{node, []} = E2E.args()
E2E.connect!(node)
server = {:snakepit_shm, node}

unknown_id = "ffffffffffffff00"
deep_list = Enum.reduce(1..100_000, [], fn _, acc -> [acc] end)
deep_tuple = Enum.reduce(1..100_000, 1, fn _, acc -> {acc} end)
large = :binary.copy(<<7>>, 8 * 1024 * 1024)
invalid = [:invalid_request]
forbidden = [:forbidden]

# A canary region whose bytes and info must survive every malformed request. Some
# requests name it (with a malformed or wrong capability token, or options info/3 does
# not take), so that they reach a live region.
canary = E2E.ok!(node, {:allocate, 4096, %{label: "e2e-canary"}})
canary_bytes = :crypto.strong_rand_bytes(4096)
E2E.pwrite!(canary, canary_bytes)
canary_info = E2E.ok!(node, {:info, canary.id})
config_before = E2E.ok!(node, {:config, :get})
# The canary's token with its last hex digit changed: well formed, but not the token.
<<token_head::binary-size(31), token_last>> = canary.token
wrong_token = token_head <> if(token_last == ?0, do: "1", else: "0")

cases = [
  {"empty_tuple", {}, invalid},
  {"bare_integer", 42, invalid},
  {"bare_binary", "allocate", invalid},
  {"unknown_atom", :make_me_a_sandwich, invalid},
  {"unknown_tuple", {:defragment, 1}, invalid},
  {"allocate_arity_1", {:allocate}, invalid},
  {"allocate_arity_2", {:allocate, 64}, invalid},
  {"allocate_arity_4", {:allocate, 64, %{}, :extra}, invalid},
  {"size_negative", {:allocate, -1, %{}}, invalid},
  {"size_zero", {:allocate, 0, %{}}, invalid},
  {"size_2_pow_70", {:allocate, Integer.pow(2, 70), %{}}, [:invalid_request, :limit_exceeded]},
  {"size_float", {:allocate, 64.0, %{}}, invalid},
  {"size_binary", {:allocate, "64", %{}}, invalid},
  {"size_large_binary", {:allocate, large, %{}}, invalid},
  {"opts_atom", {:allocate, 64, :fast}, invalid},
  {"opts_integer_list", {:allocate, 64, [1, 2, 3]}, invalid},
  {"opts_improper_list", {:allocate, 64, [{:label, "x"} | :tail]}, invalid},
  {"opts_deep_list", {:allocate, 64, deep_list}, invalid},
  {"session_deep_tuple", {:release_session, deep_tuple}, invalid},
  {"opt_unknown_key", {:allocate, 64, %{colour: :blue}}, invalid},
  {"opt_unknown_keyword", {:allocate, 64, [colour: :blue]}, invalid},
  {"opt_string_key", {:allocate, 64, %{"session" => "s"}}, invalid},
  {"holder_binary", {:allocate, 64, %{holder: "me"}}, invalid},
  {"holder_os_pid_negative", {:allocate, 64, %{holder: {:os_pid, -5}}}, invalid},
  {"holder_os_pid_not_running", {:allocate, 64, %{holder: {:os_pid, 999_999_999}}}, invalid},
  {"holder_os_pid_binary", {:allocate, 64, %{holder: {:os_pid, "1"}}}, invalid},
  {"access_unknown", {:allocate, 64, %{access: :write_only}}, invalid},
  {"access_binary", {:allocate, 64, %{access: "read_only"}}, invalid},
  {"ttl_negative", {:allocate, 64, %{ttl_ms: -10}}, invalid},
  {"ttl_binary", {:allocate, 64, %{ttl_ms: "soon"}}, invalid},
  {"ttl_float", {:allocate, 64, %{ttl_ms: 1.5}}, invalid},
  {"session_integer", {:allocate, 64, %{session: 123}}, invalid},
  {"tenant_atom", {:allocate, 64, %{tenant: :acme}}, invalid},
  {"label_atom", {:allocate, 64, %{label: :x}}, invalid},
  {"sensitive_atom", {:allocate, 64, %{sensitive: :maybe}}, invalid},
  {"info_unknown_id", {:info, unknown_id}, [:not_found]},
  {"info_id_integer", {:info, 123}, [:invalid_request, :not_found]},
  {"info_id_atom", {:info, :id}, [:invalid_request, :not_found]},
  {"acquire_unknown_id", {:acquire, unknown_id, %{}}, [:not_found]},
  {"acquire_id_list", {:acquire, [1, 2], %{}}, [:invalid_request, :not_found]},
  {"release_unknown_id", {:release, unknown_id, %{}}, [:not_found]},
  {"release_arity_2", {:release, unknown_id}, invalid},
  {"free_unknown_id", {:free, unknown_id}, [:not_found]},
  {"free_id_tuple", {:free, {:id, 1}}, [:invalid_request, :not_found]},
  {"list_atom", {:list, :bad}, invalid},
  {"list_unknown_key", {:list, %{colour: :blue}}, invalid},
  {"list_limit_negative", {:list, %{limit: -1}}, invalid},
  {"release_session_integer", {:release_session, 123}, invalid},
  {"config_atom", {:config, :bad}, invalid},
  {"config_grace_negative", {:config, {:set, %{grace_ms: -1}}}, invalid},
  {"config_unknown_key", {:config, {:set, %{nope: 1}}}, invalid},
  {"config_set_not_map", {:config, {:set, [1]}}, invalid},
  {"stats_arity_2", {:stats, :now}, invalid},
  {"health_arity_2", {:health, :deep}, invalid},
  # Capability tokens: a token that is not a binary is malformed; a binary that is not the
  # region's token (wrong length or digits, empty, or none at all) is refused.
  {"acquire_token_integer", {:acquire, canary.id, %{token: 123}}, invalid},
  {"acquire_token_atom", {:acquire, canary.id, [token: :secret]}, invalid},
  {"acquire_token_charlist", {:acquire, canary.id, %{token: String.to_charlist(canary.token)}}, invalid},
  {"acquire_token_invalid_utf8", {:acquire, canary.id, %{token: <<0xFF, 0xFE>>}}, invalid},
  {"acquire_token_missing", {:acquire, canary.id, %{}}, forbidden},
  {"acquire_token_nil", {:acquire, canary.id, %{token: nil}}, forbidden},
  {"acquire_token_empty", {:acquire, canary.id, %{token: ""}}, forbidden},
  {"acquire_token_short", {:acquire, canary.id, %{token: token_head}}, forbidden},
  {"acquire_token_long", {:acquire, canary.id, %{token: canary.token <> "0"}}, forbidden},
  {"acquire_token_wrong_digit", {:acquire, canary.id, %{token: wrong_token}}, forbidden},
  {"acquire_operator_key", {:acquire, canary.id, %{token: canary.token, operator_key: "k"}}, invalid},
  # info/3 takes tenant and operator_key (binaries) only; list's filter takes operator_key.
  {"info_opts_unknown_key", {:info, canary.id, %{colour: :blue}}, invalid},
  {"info_opts_token", {:info, canary.id, %{token: canary.token}}, invalid},
  {"info_opts_atom", {:info, canary.id, :all}, invalid},
  {"info_tenant_atom", {:info, canary.id, [tenant: :acme]}, invalid},
  {"info_operator_key_integer", {:info, canary.id, %{operator_key: 42}}, invalid},
  {"info_operator_key_atom", {:info, unknown_id, %{operator_key: :root}}, invalid},
  {"info_arity_4", {:info, canary.id, %{}, %{}}, invalid},
  # The node was started without an operator key: any operator key is refused.
  {"info_operator_key_none_set", {:info, canary.id, %{operator_key: "0123456789abcdef"}}, forbidden},
  {"list_operator_key_integer", {:list, %{operator_key: 7}}, invalid},
  {"list_token_key", {:list, %{token: canary.token}}, invalid},
  {"list_operator_key_none_set", {:list, %{operator_key: "0123456789abcdef"}}, forbidden}
]

bad =
  Enum.reduce(cases, 0, fn {name, request, codes}, bad ->
    reply =
      try do
        E2E.call(node, request)
      catch
        :exit, reason -> {:exit, reason}
      end

    case reply do
      {:error, %{code: code, message: message}} when is_binary(message) ->
        if code in codes do
          E2E.emit("CASE_#{name}", code)
          bad
        else
          E2E.emit("CASE_#{name}", "BAD:code #{code}, expected one of #{inspect(codes)}")
          bad + 1
        end

      {:exit, {{:nodedown, _}, _}} ->
        E2E.emit("CASE_#{name}", "BAD:the node went down (nodedown)")
        E2E.fail!("the node went down on malformed request #{name}; no further case was tried")

      other ->
        E2E.emit("CASE_#{name}", "BAD:" <> inspect(other, limit: 10, printable_limit: 80))
        bad + 1
    end
  end)

# Non-call traffic must not wedge the node either.
GenServer.cast(server, {:allocate, 64, %{}})
send(server, :not_a_call)
send(server, {:"$gen_call", :not_a_from, :health})

case :gen.call(server, :system, :get_state, 10_000) do
  {:ok, {:error, %{code: :invalid_request}}} -> E2E.emit("SYS_GET_STATE", "invalid_request")
  other -> E2E.fail!(":sys get_state replied #{inspect(other)}")
end

E2E.emit("CASES", length(cases))
E2E.emit("BAD", bad)

# The canary is untouched, the configuration unchanged.
E2E.check!(E2E.pread!(canary) == canary_bytes, "the canary's bytes changed")
after_info = E2E.ok!(node, {:info, canary.id})
E2E.check!(Map.drop(after_info, [:last_access_ms, :access_count]) ==
             Map.drop(canary_info, [:last_access_ms, :access_count]),
           "canary info changed: #{inspect(canary_info)} -> #{inspect(after_info)}")
E2E.check!(E2E.ok!(node, {:config, :get}) == config_before, "configuration changed")
E2E.emit("CANARY", "ok")

# The node still serves valid requests; the canary's own token acquires it.
desc = E2E.ok!(node, {:allocate, 1000, %{}})
E2E.check!(E2E.call(node, {:release, desc.id, %{}}) == :ok, "valid release failed")
E2E.check!(E2E.ok!(node, {:acquire, canary.id, %{token: canary.token}}).id == canary.id,
           "acquire of the canary with its token")
E2E.check!(E2E.call(node, {:release, canary.id, %{}}) == :ok, "release of the canary's acquire failed")
E2E.check!(E2E.call(node, {:release, canary.id, %{}}) == :ok, "canary release failed")
E2E.emit("VALID", "ok")
E2E.emit("HEALTH", E2E.ok!(node, :health).status)

# No region is left once the grace period of the two released ones has passed.
Process.sleep(config_before.grace_ms + 200)
E2E.ok!(node, :gc)
E2E.emit("REGIONS", E2E.ok!(node, :stats).regions)
if bad > 0, do: E2E.fail!("#{bad} malformed request(s) got an unexpected reply")
