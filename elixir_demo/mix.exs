defmodule SnakepitShm.MixProject do
  use Mix.Project

  def project do
    [
      app: :snakepit_shm,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: [],
      docs: [main: "SnakepitShm"]
    ]
  end

  def application do
    [extra_applications: [:logger, :crypto]]
  end
end
