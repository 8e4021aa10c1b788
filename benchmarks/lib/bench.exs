# Loads the shared helpers of the benchmark scripts: `Code.require_file("lib/bench.exs", __DIR__)`.
for file <- ~w(json.exs stats.exs context.exs processes.exs pairs.exs) do
  Code.require_file(file, __DIR__)
end
