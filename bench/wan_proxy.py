#!/usr/bin/env python3
"""A WAN link in user space: TCP proxies that delay every byte by a fixed time and pace
each direction to a rate, for benchmarks on machines without the netem qdisc.

    wan_proxy.py --delay-ms 10 --rate-mbit 100 LISTEN_PORT:TARGET_PORT [...]

Each proxied port is one full-duplex link shared by all its connections, as between two
sites: a chunk read at time t is written at max(t, link free) + len/rate + delay, where
"link free" is when the link finished sending what came before in that direction, from
any connection. Up to WINDOW bytes may be in flight per connection and direction, like a
TCP receive window; the sender waits beyond that. Listens on 127.0.0.1 and connects to
127.0.0.1 only.
"""
import argparse
import asyncio
import collections
import signal
import time

READ = 64 * 1024
WINDOW = 4 * 1024 * 1024


class Link:
    """One direction of a link: when it is free to send the next byte."""

    def __init__(self, delay, rate):
        self.delay = delay
        self.rate = rate
        self.free = 0.0

    def due(self, now, size):
        self.free = max(now, self.free) + size / self.rate
        return self.free + self.delay


async def pump(reader, writer, link):
    """Copies reader to writer through `link`."""
    queue = collections.deque()
    in_flight = 0
    more = asyncio.Event()
    room = asyncio.Event()
    room.set()
    done = False

    async def read_side():
        nonlocal in_flight, done
        try:
            while True:
                while in_flight >= WINDOW:
                    room.clear()
                    await room.wait()
                data = await reader.read(READ)
                if not data:
                    break
                queue.append((link.due(time.monotonic(), len(data)), data))
                in_flight += len(data)
                more.set()
        except (ConnectionError, OSError):
            pass
        finally:
            done = True
            more.set()

    async def write_side():
        nonlocal in_flight
        try:
            while True:
                if not queue:
                    if done:
                        break
                    more.clear()
                    await more.wait()
                    continue
                due, data = queue.popleft()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
                in_flight -= len(data)
                room.set()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except OSError:
                pass

    await asyncio.gather(read_side(), write_side())


async def serve(listen, target, delay, rate):
    up, down = Link(delay, rate), Link(delay, rate)

    async def handle(c_reader, c_writer):
        try:
            s_reader, s_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            c_writer.close()
            return
        await asyncio.gather(
            pump(c_reader, s_writer, up),
            pump(s_reader, c_writer, down),
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen, reuse_address=True)
    return server


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay (ms)")
    p.add_argument("--rate-mbit", type=float, default=100.0, help="rate per direction (Mbit/s)")
    p.add_argument("pairs", nargs="+", metavar="LISTEN:TARGET")
    a = p.parse_args()
    delay = a.delay_ms / 1000.0
    rate = a.rate_mbit * 1_000_000 / 8
    servers = []
    for pair in a.pairs:
        listen, target = (int(x) for x in pair.split(":"))
        servers.append(await serve(listen, target, delay, rate))
        print(f"wan_proxy: 127.0.0.1:{listen} -> 127.0.0.1:{target}, "
              f"{a.delay_ms} ms each way, {a.rate_mbit} Mbit/s each direction, shared", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
