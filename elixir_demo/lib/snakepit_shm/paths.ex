defmodule SnakepitShm.Paths do
  @moduledoc """
  Where the other parts of the snakepit-shm repository are, relative to this mix project.

  The mix project lives in `<repo>/elixir_demo`; the node's launcher is
  `<repo>/java_node/bin/snakepit-shm` and the Python package is in `<repo>/python_demo`.
  The paths are fixed when this module is compiled (from its source location).
  """

  @project_root Path.expand("../..", __DIR__)

  @doc "The mix project's directory (`<repo>/elixir_demo`)."
  @spec project_root() :: Path.t()
  def project_root, do: @project_root

  @doc "The repository's root directory."
  @spec repo_root() :: Path.t()
  def repo_root, do: Path.dirname(@project_root)

  @doc "The default launcher of the node: `<repo>/java_node/bin/snakepit-shm`."
  @spec default_launcher() :: Path.t()
  def default_launcher, do: Path.join([repo_root(), "java_node", "bin", "snakepit-shm"])

  @doc "The directory to put on `PYTHONPATH` for the `snakepit_shm` Python package."
  @spec python_demo() :: Path.t()
  def python_demo, do: Path.join(repo_root(), "python_demo")
end
