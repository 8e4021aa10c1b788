package io.snakepit.shm.node;

import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpExternal;
import com.ericsson.otp.erlang.OtpOutputStream;
import io.snakepit.shm.registry.Access;
import io.snakepit.shm.registry.Region;
import java.nio.charset.StandardCharsets;

/**
 * A region descriptor (CONTRACT section 3) that encodes itself straight into the external
 * term format: keys in atom order (so the BEAM need not sort the map), atom bytes encoded
 * once for the whole run, the segment's name and path bytes cached per segment. Replies
 * with many descriptors (allocate_many) spend most of their encoding time here.
 *
 * <p>Immutable; only ever encoded (equality is by encoded bytes).
 */
final class DescriptorTerm extends OtpErlangObject {
  private static final long serialVersionUID = 1L;
  /** The keys in Erlang term order (atoms compare alphabetically). */
  private static final byte[][] KEYS = atoms("access", "generation", "host", "id", "offset", "path", "segment",
      "session", "size", "tenant", "token");
  private static final byte[] NIL = atom("nil");
  private static final byte[] READ_WRITE = atom("read_write");
  private static final byte[] READ_ONLY = atom("read_only");

  private final transient Region region;
  private final Access access;
  /** The manager's host id (docs/SCALE_OUT.md), shared by every descriptor of the run. */
  private final byte[] host;

  DescriptorTerm(Region region, Access access, byte[] host) {
    this.region = region;
    this.access = access;
    this.host = host;
  }

  private static byte[][] atoms(String... names) {
    byte[][] out = new byte[names.length][];
    for (int i = 0; i < names.length; i++) {
      out[i] = atom(names[i]);
    }
    return out;
  }

  /** SMALL_ATOM_UTF8_EXT of {@code name}: tag, length, bytes. */
  private static byte[] atom(String name) {
    byte[] text = name.getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[text.length + 2];
    out[0] = (byte) OtpExternal.smallAtomUtf8Tag;
    out[1] = (byte) text.length;
    System.arraycopy(text, 0, out, 2, text.length);
    return out;
  }

  @Override
  public void encode(OtpOutputStream buf) {
    buf.write1(OtpExternal.mapTag);
    buf.write4BE(KEYS.length);
    buf.writeN(KEYS[0]);
    buf.writeN(access == Access.READ_ONLY ? READ_ONLY : READ_WRITE);
    buf.writeN(KEYS[1]);
    buf.write_long(region.generation());
    buf.writeN(KEYS[2]);
    buf.write_binary(host);
    buf.writeN(KEYS[3]);
    buf.write_binary(region.idBytes());
    buf.writeN(KEYS[4]);
    buf.write_long(region.payloadOffsetBytes());
    buf.writeN(KEYS[5]);
    buf.write_binary(region.segment().pathBytes());
    buf.writeN(KEYS[6]);
    buf.write_binary(region.segment().shmNameBytes());
    buf.writeN(KEYS[7]);
    text(buf, region.session());
    buf.writeN(KEYS[8]);
    buf.write_long(region.sizeBytes());
    buf.writeN(KEYS[9]);
    text(buf, region.tenant());
    buf.writeN(KEYS[10]);
    buf.write_binary(region.tokenText().getBytes(StandardCharsets.US_ASCII));
  }

  private static void text(OtpOutputStream buf, String s) {
    if (s == null) {
      buf.writeN(NIL);
    } else {
      buf.write_binary(s.getBytes(StandardCharsets.UTF_8));
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof OtpErlangObject other
        && java.util.Arrays.equals(new OtpOutputStream(this).toByteArray(), new OtpOutputStream(other).toByteArray());
  }

  @Override
  protected int doHashCode() {
    return java.util.Arrays.hashCode(new OtpOutputStream(this).toByteArray());
  }

  @Override
  public String toString() {
    return "%{id: \"" + region.idText() + "\", generation: " + region.generation() + ", path: \""
        + region.segment().path() + "\", offset: " + region.payloadOffsetBytes() + ", size: " + region.sizeBytes()
        + ", access: :" + access.atom() + ", host: \"" + new String(host, StandardCharsets.US_ASCII) + "\"}";
  }
}
