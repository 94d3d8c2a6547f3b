import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { closeFd, readFd } from "./fd.ts";
import { acceptUnix, listenUnix, receiveConsoleMaster, receiveFd } from "./fdpass.ts";
import { testsNeeding } from "../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ peers: ["python3"] });

// The sender is python3's socket.send_fds, a real SCM_RIGHTS peer.
test("fdpass: receives an fd sent with SCM_RIGHTS", async () => {
  const dir = Deno.makeTempDirSync();
  const sock = `${dir}/console.sock`;
  const file = `${dir}/payload`;
  Deno.writeTextFileSync(file, "through the socket");
  const lfd = listenUnix(sock);
  try {
    const sender = new Deno.Command("python3", {
      args: [
        "-c",
        "import socket,sys,os\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n" +
        "f=os.open(sys.argv[2],os.O_RDONLY)\nsocket.send_fds(s,[b'x'],[f])\n",
        sock,
        file,
      ],
    }).spawn();
    const conn = await acceptUnix(lfd);
    let fd = -1;
    try {
      fd = await receiveFd(conn);
    } finally {
      closeFd(conn);
    }
    assertEquals((await sender.status).code, 0);
    const buf = new Uint8Array(64);
    const n = readFd(fd, buf);
    closeFd(fd);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n)), "through the socket");
  } finally {
    closeFd(lfd);
    Deno.removeSync(dir, { recursive: true });
  }
});

const SEND_FD = "import socket,sys,os\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n" +
  "f=os.open(sys.argv[2],os.O_RDONLY)\nsocket.send_fds(s,[b'x'],[f])\n";

test("fdpass: the console-socket handshake returns the sent fd and removes the socket", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const sock = `${dir}/console.sock`;
    Deno.writeTextFileSync(`${dir}/payload`, "master");
    const fd = await receiveConsoleMaster(sock, async () => {
      const out = await new Deno.Command("python3", {
        args: ["-c", SEND_FD, sock, `${dir}/payload`],
      }).output();
      assertEquals(out.code, 0);
    });
    const buf = new Uint8Array(16);
    const n = readFd(fd, buf);
    closeFd(fd);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n)), "master");
    assert(!exists(sock), "the socket file is removed");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("fdpass: a runtime failing before it connects: no hang, its error, no socket left", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const sock = `${dir}/console.sock`;
    await assertRejects(
      () => receiveConsoleMaster(sock, () => Promise.reject(new Error("runc create failed"))),
      Error,
      "runc create failed",
    );
    assert(!exists(sock), "the socket file is removed");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
