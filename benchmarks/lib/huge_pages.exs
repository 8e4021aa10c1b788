defmodule Bench.HugePages do
  @moduledoc """
  Facts about transparent huge pages for the data-path benchmark: the huge-page tmpfs
  that `scripts/bench.sh` mounts, how much shmem is in huge pages, and whether the
  machine hands free memory back to its host.
  """

  @mib 1024 * 1024
  @gib 1024 * @mib

  @doc """
  The huge-page tmpfs scripts/bench.sh mounted (SNKBENCH_THP_DIR), checked in
  /proc/mounts: `{:ok, dir, mount options, size in bytes}`, or `{:skip, reason}` (the
  reason scripts/bench.sh gave in SNKBENCH_THP_SKIPPED, or what is wrong with the dir).
  """
  @spec mount() :: {:ok, Path.t(), String.t(), pos_integer()} | {:skip, String.t()}
  def mount do
    case {System.get_env("SNKBENCH_THP_DIR", ""), System.get_env("SNKBENCH_THP_SKIPPED", "")} do
      {"", ""} ->
        {:skip, "not requested (scripts/bench.sh mounts a huge-page tmpfs when run as root)"}

      {"", reason} ->
        {:skip, reason}

      {mount, _} ->
        case mount_options(mount) do
          nil ->
            {:skip, "#{mount} is not a mount point (SNKBENCH_THP_DIR must name a tmpfs mount)"}

          {type, options} ->
            huge = Enum.find(options, &String.starts_with?(&1, "huge="))
            capacity = Enum.find_value(options, &tmpfs_size_bytes/1)

            cond do
              type != "tmpfs" -> {:skip, "#{mount} is #{type}, not tmpfs"}
              huge in [nil, "huge=never", "huge=deny"] -> {:skip, "the tmpfs at #{mount} has no huge= option"}
              capacity == nil -> {:skip, "the tmpfs at #{mount} has no size= option"}
              true -> {:ok, mount, Enum.join(options, ","), capacity}
            end
        end
    end
  end

  defp mount_options(mount) do
    with {:ok, text} <- File.read("/proc/mounts") do
      text
      |> String.split("\n", trim: true)
      |> Enum.map(&String.split(&1, " "))
      |> Enum.filter(&match?([_, ^mount, _, _ | _], &1))
      |> List.last()
      |> case do
        [_, _, type, options | _] -> {type, String.split(options, ",")}
        nil -> nil
      end
    else
      _ -> nil
    end
  end

  defp tmpfs_size_bytes("size=" <> value) do
    case Integer.parse(value) do
      {n, "k"} -> n * 1024
      {n, "m"} -> n * @mib
      {n, "g"} -> n * @gib
      {n, ""} -> n
      _ -> nil
    end
  end

  defp tmpfs_size_bytes(_), do: nil

  @doc "KiB of shmem (tmpfs) in huge pages, system-wide (ShmemHugePages of /proc/meminfo)."
  @spec shmem_huge_pages_kib() :: non_neg_integer() | nil
  def shmem_huge_pages_kib do
    with {:ok, text} <- File.read("/proc/meminfo"),
         [_, kib] <- Regex.run(~r/^ShmemHugePages:\s+(\d+) kB$/m, text) do
      String.to_integer(kib)
    else
      _ -> nil
    end
  end

  @doc """
  Whether freed memory goes back to the host (virtio-balloon free page reporting, in
  blocks of 2^order pages): then the next use of a freed 2 MiB block is slow again.
  """
  @spec free_page_reporting() :: %{virtio_balloon_reporting: boolean(), page_reporting_order: integer() | nil}
  def free_page_reporting do
    balloon_reports? =
      Path.wildcard("/sys/bus/virtio/devices/*")
      |> Enum.any?(fn dev ->
        # device id 5 is the balloon; feature bit 5 is VIRTIO_BALLOON_F_REPORTING
        with {:ok, "0x0005" <> _} <- File.read(Path.join(dev, "device")),
             {:ok, features} <- File.read(Path.join(dev, "features")) do
          String.at(features, 5) == "1"
        else
          _ -> false
        end
      end)

    order =
      with {:ok, text} <- File.read("/sys/module/page_reporting/parameters/page_reporting_order"),
           {n, _} <- Integer.parse(String.trim(text)) do
        n
      else
        _ -> nil
      end

    %{virtio_balloon_reporting: balloon_reports?, page_reporting_order: order}
  end
end
