"""What the memory and scaling scripts share: RESP encoding, starting redis-server or tinykv-server on a free
port, loading through redis-cli --pipe, and reading VmRSS."""
import socket, subprocess, time

def enc(args):
    """One request as a RESP array of bulk strings."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start(kind, binary):
    """A fresh server ("redis" or "tinykv", the latter from `binary`) on a free port: (process, port)."""
    port = free_port()
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    else:
        p = subprocess.Popen([binary, "--port", str(port), "--no-greeting"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try: socket.create_connection(("127.0.0.1", port)).close(); break
        except OSError: time.sleep(0.1)
    return p, port

def load(port, data):
    """Sends `data` through redis-cli --pipe; returns its last line (the reply count and errors)."""
    r = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=data, capture_output=True)
    return r.stdout.decode().strip().splitlines()[-1]

def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
