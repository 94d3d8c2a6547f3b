import { assertEquals } from "../tests/assert.ts";
import { closeFd, readFd } from "./libc.ts";
import { acceptUnix, listenUnix, receiveFd } from "./fdpass.ts";

// The sender is python3's socket.send_fds, a real SCM_RIGHTS peer.
Deno.test("fdpass: receives an fd sent with SCM_RIGHTS", async () => {
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
