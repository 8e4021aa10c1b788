package io.snakepit.shm.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.ericsson.otp.erlang.OtpErlangAtom;
import com.ericsson.otp.erlang.OtpErlangBinary;
import com.ericsson.otp.erlang.OtpErlangDouble;
import com.ericsson.otp.erlang.OtpErlangList;
import com.ericsson.otp.erlang.OtpErlangLong;
import com.ericsson.otp.erlang.OtpErlangMap;
import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpErlangPid;
import com.ericsson.otp.erlang.OtpErlangString;
import com.ericsson.otp.erlang.OtpErlangTuple;
import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.registry.HolderListener;
import io.snakepit.shm.registry.RegionRegistry;
import io.snakepit.shm.registry.ShmConfig;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.SegmentStore;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Decoding and encoding of requests, against a real registry in a fresh /dev/shm directory. */
class RequestHandlerTest {
  private final SharedMemoryPlatform platform = Platforms.forCurrentOs();
  private final OtpErlangPid caller = new OtpErlangPid("client@host", 42, 0, 0);
  private Path dir;
  private RegionRegistry registry;
  private RequestHandler handler;

  @BeforeEach
  void setUp() throws IOException {
    dir = Files.createTempDirectory(Path.of("/dev/shm"), "snktest-rh-");
    long pid = platform.currentPid();
    ManagerInstance me = new ManagerInstance("t@h", pid, platform.processStartTicks(pid), 1, platform.bootId());
    registry = new RegionRegistry(new SegmentStore(platform, dir, me), ShmConfig.defaults(1L << 30),
        HolderListener.NONE);
    Metrics metrics = new Metrics();
    handler = new RequestHandler(registry, platform, dir, "t@h", metrics, new Alerts(registry, metrics, platform, dir),
        new UsageSeries(registry, metrics), new NodeEvents() {
          private final java.util.Set<OtpErlangPid> subscribed = new java.util.HashSet<>();

          @Override
          public boolean subscribe(OtpErlangPid pid) {
            subscribed.add(pid);
            return true;
          }

          @Override
          public boolean unsubscribe(OtpErlangPid pid) {
            return subscribed.remove(pid);
          }

          @Override
          public int subscriberCount() {
            return subscribed.size();
          }
        });
  }

  @AfterEach
  void tearDown() throws IOException {
    registry.shutdown();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        Files.delete(p);
      }
    }
    Files.delete(dir);
  }

  /** The reply as the caller decodes it: encoded to the external format and read back. */
  private OtpErlangObject call(OtpErlangObject request, OtpErlangPid from) {
    OtpErlangObject reply = handler.handle(request, from);
    try {
      return new com.ericsson.otp.erlang.OtpInputStream(new com.ericsson.otp.erlang.OtpOutputStream(reply)
          .toByteArray()).read_any();
    } catch (com.ericsson.otp.erlang.OtpErlangDecodeException e) {
      throw new AssertionError("reply does not decode: " + reply, e);
    }
  }

  private static OtpErlangAtom a(String s) {
    return new OtpErlangAtom(s);
  }

  private static OtpErlangTuple t(OtpErlangObject... o) {
    return new OtpErlangTuple(o);
  }

  private static OtpErlangLong n(long v) {
    return new OtpErlangLong(v);
  }

  private static OtpErlangBinary b(String s) {
    return new OtpErlangBinary(s.getBytes());
  }

  private static OtpErlangList kw(OtpErlangObject... pairs) {
    return new OtpErlangList(pairs);
  }

  private static OtpErlangObject field(OtpErlangObject map, String key) {
    return ((OtpErlangMap) map).get(a(key));
  }

  private OtpErlangMap okMap(OtpErlangObject reply) {
    OtpErlangTuple tup = assertInstanceOf(OtpErlangTuple.class, reply);
    assertEquals(a("ok"), tup.elementAt(0), reply.toString());
    return assertInstanceOf(OtpErlangMap.class, tup.elementAt(1));
  }

  private String errorCode(OtpErlangObject reply) {
    OtpErlangTuple tup = assertInstanceOf(OtpErlangTuple.class, reply, String.valueOf(reply));
    assertEquals(a("error"), tup.elementAt(0), reply.toString());
    OtpErlangMap m = assertInstanceOf(OtpErlangMap.class, tup.elementAt(1));
    assertInstanceOf(OtpErlangBinary.class, m.get(a("message")));
    assertTrue(m.get(a("remediation")) != null, "remediation key present");
    return ((OtpErlangAtom) m.get(a("code"))).atomValue();
  }

  @Test
  void allocateAnswersTheContractsDescriptor() {
    OtpErlangMap d = okMap(call(t(a("allocate"), n(1000), kw(t(a("label"), b("x")))), caller));
    java.util.Set<String> keys = new java.util.TreeSet<>();
    for (OtpErlangObject k : d.keys()) {
      keys.add(((OtpErlangAtom) k).atomValue());
    }
    assertEquals(java.util.Set.of("id", "generation", "segment", "path", "offset", "size", "access", "tenant",
        "session", "token", "host"), keys);
    assertEquals(b(HostIdentity.detect(null).id()), field(d, "host"));
    assertEquals(16, ((OtpErlangBinary) field(d, "id")).size());
    assertTrue(new String(((OtpErlangBinary) field(d, "token")).binaryValue()).matches("[0-9a-f]{32}"),
        "the token is 32 hex digits");
    assertEquals(n(1000), field(d, "size"));
    assertEquals(a("read_write"), field(d, "access"));
    assertEquals(a("nil"), field(d, "tenant"));
    String path = new String(((OtpErlangBinary) field(d, "path")).binaryValue());
    String segment = new String(((OtpErlangBinary) field(d, "segment")).binaryValue());
    assertEquals(dir.resolve(segment.substring(1)).toString(), path);
    assertTrue(segment.length() <= 30);
    assertEquals(0, ((OtpErlangLong) field(d, "offset")).longValue() % 64);
  }

  @Test
  void pingReportsTheHostThatDescriptorsCarry() {
    OtpErlangMap host = assertInstanceOf(OtpErlangMap.class, field(okMap(call(a("ping"), caller)), "host"));
    HostIdentity me = HostIdentity.detect(null);
    assertEquals(b(me.id()), field(host, "id"));
    assertEquals(b(me.name()), field(host, "name"));
    assertEquals(b(me.bootId()), field(host, "boot_id"));
    assertEquals(a("derived"), field(host, "source"));

    handler.setHostIdentity(HostIdentity.detect("host-b"));
    host = assertInstanceOf(OtpErlangMap.class, field(okMap(call(a("ping"), caller)), "host"));
    assertEquals(b("host-b"), field(host, "id"));
    assertEquals(a("override"), field(host, "source"));
    OtpErlangMap d = okMap(call(t(a("allocate"), n(10), new OtpErlangMap()), caller));
    assertEquals(b("host-b"), field(d, "host"));
    OtpErlangObject many = call(t(a("allocate_many"), new OtpErlangList(new OtpErlangObject[] {n(1), n(2)}),
        new OtpErlangMap()), caller);
    for (OtpErlangObject each : (OtpErlangList) ((OtpErlangTuple) many).elementAt(1)) {
      assertEquals(b("host-b"), field(each, "host"));
    }
    OtpErlangMap again = okMap(call(t(a("acquire"), field(d, "id"), kw(t(a("token"), field(d, "token")))), caller));
    assertEquals(b("host-b"), field(again, "host"));
  }

  @Test
  void infoShowsTheCallerAsHolderAndReleaseDropsIt() {
    OtpErlangMap d = okMap(call(t(a("allocate"), n(10), new OtpErlangMap()), caller));
    OtpErlangObject id = field(d, "id");
    OtpErlangMap info = okMap(call(t(a("info"), id), caller));
    assertEquals(n(1), field(info, "refcount"));
    OtpErlangList holders = (OtpErlangList) field(info, "holders");
    assertEquals(caller, field(holders.elementAt(0), "holder"));
    assertEquals(a("ok"), call(t(a("release"), id, kw()), caller));
    assertEquals(n(0), field(okMap(call(t(a("info"), id), caller)), "refcount"));
  }

  @Test
  void configSetOfGraceMsTakesEffect() {
    OtpErlangMap set = new OtpErlangMap(new OtpErlangObject[] {a("grace_ms")}, new OtpErlangObject[] {n(7)});
    assertEquals(n(7), field(okMap(call(t(a("config"), t(a("set"), set)), caller)), "grace_ms"));
    assertEquals(7, registry.config().graceMs());
  }

  @Test
  void batchCallsTakeCharlistsAndAnswerInOrder() {
    OtpErlangObject reply = call(t(a("allocate_many"), new OtpErlangString("dd\u00c8"), kw()), caller);
    OtpErlangTuple tup = assertInstanceOf(OtpErlangTuple.class, reply);
    OtpErlangList ds = assertInstanceOf(OtpErlangList.class, tup.elementAt(1), reply.toString());
    assertEquals(3, ds.arity());
    assertEquals(n(100), field(ds.elementAt(0), "size"));
    assertEquals(n(200), field(ds.elementAt(2), "size"));
    OtpErlangList ids = new OtpErlangList(new OtpErlangObject[] {field(ds.elementAt(0), "id"),
        field(ds.elementAt(1), "id"), field(ds.elementAt(2), "id")});
    assertEquals(n(3), field(okMap(call(t(a("release_many"), ids, kw()), caller)), "released"));
    OtpErlangTuple err = (OtpErlangTuple) call(t(a("release_many"),
        new OtpErlangList(new OtpErlangObject[] {b("zz")}), kw()), caller);
    assertEquals(n(0), field(err.elementAt(1), "index"));
  }

  @Test
  void statsKeysSessionsAndTenantsByBinaryHoweverLongTheirNames() {
    String longName = "s".repeat(300);
    okMap(call(t(a("allocate"), n(10), kw(t(a("session"), b(longName)), t(a("tenant"), b("t")))), caller));
    OtpErlangMap stats = okMap(call(a("stats"), caller));
    OtpErlangMap bySession = (OtpErlangMap) field(stats, "bytes_by_session");
    assertEquals(n(10), bySession.get(b(longName)));
    assertEquals(n(10), ((OtpErlangMap) field(stats, "bytes_by_tenant")).get(b("t")));
  }

  @Test
  void everyMalformedRequestGetsAnErrorWithACode() {
    OtpErlangObject deep = a("x");
    for (int i = 0; i < 10_000; i++) {
      deep = t(deep);
    }
    List<OtpErlangObject> bad = List.of(
        a("nope"),
        t(),
        n(1),
        t(a("allocate")),
        t(a("allocate"), n(10)),
        t(a("allocate"), n(0), kw()),
        t(a("allocate"), n(-5), kw()),
        t(a("allocate"), new OtpErlangLong(BigInteger.TWO.pow(70)), kw()),
        t(a("allocate"), new OtpErlangDouble(1.5), kw()),
        t(a("allocate"), b("10"), kw()),
        t(a("allocate"), n(10), a("bad")),
        t(a("allocate"), n(10), new OtpErlangString("abc")),
        t(a("allocate"), n(10), kw(t(a("nope"), n(1)))),
        t(a("allocate"), n(10), kw(t(a("holder"), a("me")))),
        t(a("allocate"), n(10), kw(t(a("holder"), t(a("os_pid"), n(-1))))),
        t(a("allocate"), n(10), kw(t(a("access"), a("write_only")))),
        t(a("allocate"), n(10), kw(t(a("ttl_ms"), n(-1)))),
        t(a("allocate"), n(10), kw(t(a("session"), n(5)))),
        t(a("allocate"), n(10), kw(t(a("sensitive"), a("yes")))),
        t(a("allocate"), n(10), kw(t(a("label"), new OtpErlangBinary(new byte[100_000])))),
        t(a("acquire"), b("0000000000000000"), kw()),
        t(a("acquire"), n(5), kw()),
        t(a("acquire"), b("not-hex-at-all!!"), kw()),
        t(a("release"), b("zz"), kw()),
        t(a("free"), a("x")),
        t(a("info"), b("ffffffffffffffff")),
        t(a("list"), a("bad")),
        t(a("release_session"), n(123)),
        t(a("config"), a("bad")),
        t(a("config"), t(a("set"), new OtpErlangMap(new OtpErlangObject[] {a("grace_ms")},
            new OtpErlangObject[] {n(-1)}))),
        t(a("config"), t(a("set"), new OtpErlangMap(new OtpErlangObject[] {a("nope")},
            new OtpErlangObject[] {n(1)}))),
        t(a("stats"), n(1)),
        t(a("allocate_many"), new OtpErlangList(), kw()),
        t(a("allocate_many"), new OtpErlangList(new OtpErlangObject[] {n(1), a("x")}), kw()),
        t(a("release_many"), a("x"), kw()),
        t(a("write"), b("0000000000000000"), n(0), b("x"), kw()),
        t(a("write"), b("zz"), n(0), b("x"), kw()),
        t(a("write"), b("0000000000000000"), n(0), a("notbinary"), kw()),
        t(a("read"), b("0000000000000000"), n(0), n(-1), kw()),
        t(a("read"), b("0000000000000000"), n(0), n(10), kw(t(a("wait_ms"), n(0)))),
        deep);
    for (OtpErlangObject req : bad) {
      String code = errorCode(call(req, caller));
      assertTrue(List.of("invalid_request", "not_found", "limit_exceeded", "forbidden").contains(code),
          code + " for " + Requests.show(req));
    }
    assertEquals(0, registry.regionCount(), "no bad request made a region");
    okMap(call(t(a("allocate"), n(10), kw()), caller));
  }
}
