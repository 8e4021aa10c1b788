package io.snakepit.shm.segment;

import java.util.Arrays;

/**
 * Who owns a segment: one run of a manager. A segment whose instance is provably dead
 * (another boot, or no process with this pid and start time) may be reclaimed.
 *
 * @param nodeName    the manager's Erlang node name
 * @param osPid       the manager JVM's pid
 * @param startTicks  that process's start time in clock ticks since boot
 * @param instanceId  random per run
 * @param bootId      16 bytes identifying the boot
 */
public record ManagerInstance(String nodeName, long osPid, long startTicks, long instanceId, byte[] bootId) {
  public ManagerInstance {
    if (bootId.length != 16) {
      throw new IllegalArgumentException("bootId must be 16 bytes, got " + bootId.length);
    }
    bootId = bootId.clone();
  }

  @Override
  public byte[] bootId() {
    return bootId.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ManagerInstance m
        && m.nodeName.equals(nodeName)
        && m.osPid == osPid
        && m.startTicks == startTicks
        && m.instanceId == instanceId
        && Arrays.equals(m.bootId, bootId);
  }

  @Override
  public int hashCode() {
    return Long.hashCode(instanceId) * 31 + Long.hashCode(osPid);
  }

  @Override
  public String toString() {
    return nodeName + " (pid " + osPid + ", instance " + Long.toHexString(instanceId) + ")";
  }
}
