"""A hostile AoE initiator with a memory: valid I/O interleaved with abuse.

Run inside a node namespace (it needs the node's NIC), as test_aoe_hostile.py does:

    aoe_hostile.py IFACE TARGET_MAC SHELF.SLOT OTHER_SHELF.SLOT SECTORS SEED SECONDS SHADOW

SHELF.SLOT is a volume exported to this node's MAC, OTHER_SHELF.SLOT one
exported to some other MAC.  For SECONDS it alternates, as the seeded
random.Random(SEED) picks:

  - valid I/O to SHELF.SLOT from this node's MAC: writes of random bytes
    (waited for, retransmitted when no answer comes, as an initiator does),
    reads compared with what was written, writes reusing the tag of an
    earlier finished request, and retransmits of the last write;
  - bursts of frames the target must not act on: random bytes, truncated
    writes, writes with a wrong AoE version, with the response flag, from
    MACs not on the mask list, to OTHER_SHELF.SLOT, broadcast, or with
    oversized sector counts or ranges past the end; mask-list edits adding a
    stranger's MAC; Query Config sets and random control frames.

Only the valid writes may change the volume.  What they wrote is kept in a
shadow of the regions used (the first REGION bytes and the last TAIL
sectors) and written to SHADOW (head then tail) for the test to compare with
the volume files.  The NIC is put in promiscuous mode, so that an answer the
target sends to a stranger's MAC is seen too.  One JSON line on stdout:
counts per kind of frame, and `failures` (what the target did wrong, empty
when nothing).  Frames are built with harness/aoe_frames.py (independent of
Karri's C code).
"""

import json
import random
import select
import socket
import struct
import sys
import time

from aoe_frames import Port, ata, header, mac_bytes

REGION = 4 << 20           # head bytes used by the valid writes
TAIL = 64                  # and the last sectors of the volume
SPF = 17                   # sectors per frame at MTU 9000
SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC = 263, 1, 1
PACKET_OUTGOING = 4
READ_EXT, WRITE_EXT, READ28, WRITE28 = 0x24, 0x34, 0x20, 0x30
DRDY, ERR = 0x40, 0x01


def shelf_slot(s):
    shelf, slot = s.split(".")
    return int(shelf), int(slot)


class Hostile:
    def __init__(self, ifname, target_mac, mine, other, sectors, seed):
        self.p = Port(ifname)
        mreq = struct.pack("iHH8s", socket.if_nametoindex(ifname), PACKET_MR_PROMISC, 0, b"")
        self.p.s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        self.dst = mac_bytes(target_mac)
        self.shelf, self.slot = mine
        self.other = other
        self.sectors = sectors
        self.rnd = random.Random(seed)
        self.head = bytearray(REGION)
        self.tail = bytearray(TAIL * 512)
        self.next_tag = 1
        self.done_tags = []        # tags of finished requests answered once
        self.last_write = None     # (frame, tag, lba, data) for a retransmit
        self.strangers = set()     # source MACs that are on no mask list
        self.counts = {}
        self.failures = []

    # -- bookkeeping -------------------------------------------------------
    def count(self, kind):
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def fail(self, what):
        if len(self.failures) < 20:
            self.failures.append(what)

    def shadow_get(self, lba, n):
        out = bytearray()
        for s in range(lba, lba + n):
            if s < REGION // 512:
                out += self.head[s * 512:(s + 1) * 512]
            else:
                t = s - (self.sectors - TAIL)
                out += self.tail[t * 512:(t + 1) * 512]
        return bytes(out)

    def shadow_put(self, lba, data):
        for i, s in enumerate(range(lba, lba + len(data) // 512)):
            chunk = data[i * 512:(i + 1) * 512]
            if s < REGION // 512:
                self.head[s * 512:(s + 1) * 512] = chunk
            else:
                t = s - (self.sectors - TAIL)
                self.tail[t * 512:(t + 1) * 512] = chunk

    def pick_range(self):
        n = self.rnd.randint(1, SPF)
        if self.rnd.random() < 0.2:     # near and at the very end
            return self.sectors - self.rnd.randint(n, TAIL), n
        return self.rnd.randrange(0, REGION // 512 - n + 1), n

    def stranger(self):
        mac = bytes([0x02, 0x5a] + [self.rnd.randrange(256) for _ in range(4)])
        self.strangers.add(mac)
        return mac

    # -- the wire ------------------------------------------------------------
    def frame(self, tag, aflags, count, cmd, lba, data=b"", src=None, dst=None, where=None,
              ver=1, flags=0, ext=True):
        shelf, slot = where or (self.shelf, self.slot)
        return (header(dst or self.dst, src or self.p.mac, shelf, slot, 0, tag, flags=flags,
                       ver=ver) + ata(aflags, count, cmd, lba, ext=ext) + data)

    def check_answer(self, f):
        """Every answer seen: none may go to a stranger or about the other volume."""
        if f[0:6] in self.strangers:
            self.fail(f"answered a MAC not on the mask list: {f[0:6].hex(':')} tag {f[20:24].hex()}")
        if f[0:6] == self.p.mac and struct.unpack(">HB", f[16:19]) == self.other:
            self.fail(f"answered about {self.other}, which this MAC may not use")

    def response(self, deadline):
        """The next AoE response on the wire, to whomever it goes (Port.answers
        keeps only this MAC's), checked; None once `deadline` has passed."""
        while True:
            r, _, _ = select.select([self.p.s], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                return None
            f, addr = self.p.s.recvfrom(16384)
            if addr[2] != PACKET_OUTGOING and len(f) >= 24 and f[14] & 0x08:
                self.check_answer(f)
                return f

    def drain(self, seconds=0.0):
        deadline = time.monotonic() + seconds
        while self.response(deadline) is not None:
            pass

    def request(self, frame, tag):
        """Send a valid request until answered; the answer, or None after ~4 s."""
        for attempt in range(8):
            self.p.send(frame)
            deadline = time.monotonic() + 0.5
            while (f := self.response(deadline)) is not None:
                if (f[0:6] == self.p.mac and f[6:12] == self.dst and
                        struct.unpack(">I", f[20:24])[0] == tag and
                        struct.unpack(">HB", f[16:19]) == (self.shelf, self.slot)):
                    return f, attempt
        return None, 8

    # -- valid I/O -------------------------------------------------------------
    def new_tag(self):
        self.next_tag += 1
        return self.next_tag

    def valid_write(self, tag=None, kind="write"):
        lba, n = self.pick_range()
        data = self.rnd.randbytes(n * 512)
        tag = tag or self.new_tag()
        f = self.frame(tag, 0x41, n, WRITE_EXT, lba, data)
        ans, tries = self.request(f, tag)
        self.count(kind)
        if ans is None:
            self.fail(f"{kind} tag {tag:#x} of {n} sectors at {lba}: no answer")
            return
        if ans[27] != DRDY:
            self.fail(f"{kind} tag {tag:#x} of {n} sectors at {lba}: status {ans[27]:#x}")
            return
        self.shadow_put(lba, data)
        self.last_write = (f, tag, lba, data)
        if tries == 0:
            self.done_tags.append(tag)

    def valid_read(self):
        lba, n = self.pick_range()
        tag = self.new_tag()
        ans, tries = self.request(self.frame(tag, 0x40, n, READ_EXT, lba), tag)
        self.count("read")
        if ans is None:
            self.fail(f"read tag {tag:#x} of {n} sectors at {lba}: no answer")
        elif ans[27] != DRDY or ans[36:36 + n * 512] != self.shadow_get(lba, n):
            self.fail(f"read tag {tag:#x} of {n} sectors at {lba}: status {ans[27]:#x}, "
                      f"data {'differs' if ans[27] == DRDY else 'none'}")
        elif tries == 0:
            self.done_tags.append(tag)

    def retransmit(self):
        """The last write again, same tag and bytes: harmless, answered."""
        if not self.last_write:
            return
        f, tag, lba, data = self.last_write
        ans, _ = self.request(f, tag)
        self.count("retransmit")
        if ans is None or ans[27] != DRDY:
            self.fail(f"retransmit of tag {tag:#x}: {'no answer' if ans is None else hex(ans[27])}")

    def reused_tag_write(self):
        """A new write with the tag of a finished request: a new request all the same."""
        if len(self.done_tags) < 20:
            return self.valid_write()
        tag = self.done_tags.pop(self.rnd.randrange(len(self.done_tags) - 10))
        self.drain()
        self.valid_write(tag, kind="reused-tag write")

    # -- abuse -----------------------------------------------------------------
    def junk_data(self, n):
        return bytes([0xEE]) * (n * 512)     # never what a valid write wrote

    def hostile(self):
        r = self.rnd
        kind = r.choice(["random", "truncated", "version", "response-flag", "stranger",
                         "other-volume", "broadcast", "oversized", "past-end", "lba28-past-end",
                         "mask-edit", "config-set", "control", "no-such-target"])
        tag = 0x80000000 | r.randrange(1 << 30)
        lba, n = self.pick_range()
        write = self.frame(tag, 0x41, n, WRITE_EXT, lba, self.junk_data(n))
        f, pad = None, True
        if kind == "random":
            f = bytes(r.randrange(256) for _ in range(r.randrange(0, 120)))
            if r.random() < 0.5:       # or a real header with random bytes after it
                f = header(self.dst, self.p.mac, self.shelf, self.slot, r.randrange(256), tag) + f
            pad = r.random() < 0.5
        elif kind == "truncated":
            f, pad = write[:r.randrange(0, len(write))], False
        elif kind == "version":
            f = self.frame(tag, 0x41, n, WRITE_EXT, lba, self.junk_data(n),
                           ver=r.choice([0, 2, 3, 7, 15]))
        elif kind == "response-flag":
            f = self.frame(tag, 0x41, n, WRITE_EXT, lba, self.junk_data(n), flags=0x8)
        elif kind == "stranger":
            f = self.frame(tag, 0x41, n, WRITE_EXT, lba, self.junk_data(n), src=self.stranger())
        elif kind == "other-volume":
            f = self.frame(tag, 0x41, n, WRITE_EXT, lba, self.junk_data(n), where=self.other)
        elif kind == "broadcast":
            f = self.frame(tag, 0x41, n, WRITE_EXT, lba, self.junk_data(n),
                           dst=b"\xff" * 6, where=(0xffff, 0xff))
        elif kind == "oversized":
            count = r.choice([0, SPF + 1, 100, 255])
            data = self.junk_data(min(count, SPF))
            f = self.frame(tag, r.choice([0x41, 0x40]), count, r.choice([WRITE_EXT, READ_EXT]),
                           lba, data)
        elif kind == "past-end":
            start = r.choice([self.sectors - 1, self.sectors, self.sectors + 5, (1 << 48) - 1])
            f = self.frame(tag, 0x41, 2, WRITE_EXT, start, self.junk_data(2))
        elif kind == "lba28-past-end":
            f = self.frame(tag, 0x01, 1, WRITE28, (1 << 28) - 1, self.junk_data(1), ext=False)
        elif kind == "mask-edit":       # add a stranger's MAC: must be refused
            mac = self.stranger()
            f = (header(self.dst, self.p.mac, self.shelf, self.slot, 2, tag) +
                 bytes([0, 1, 0, 1]) + bytes([0, r.choice([1, 2])]) + mac)
        elif kind == "config-set":
            s = bytes(r.randrange(32, 127) for _ in range(r.randrange(0, 40)))
            f = (header(self.dst, self.p.mac, self.shelf, self.slot, 1, tag) +
                 struct.pack(">HHBBH", 0, 0, 0, r.choice([2, 3, 4, 0x4f]), len(s)) + s)
        elif kind == "control":
            f = header(self.dst, self.p.mac, self.shelf, self.slot, r.choice([1, 2, 3, 4, 0xf0]),
                       tag) + bytes(r.randrange(256) for _ in range(r.randrange(0, 40)))
        elif kind == "no-such-target":
            f = self.frame(tag, 0x41, n, WRITE_EXT, lba, self.junk_data(n),
                           where=(r.randrange(0xfffe), r.randrange(0xff)))
        self.p.send(f, pad=pad)
        self.count(kind)
        if kind == "stranger" and r.random() < 0.3:
            # and the same stranger straight after a valid write: no batching them together
            self.valid_write()

    def run(self, seconds):
        end = time.monotonic() + seconds
        ops = [self.valid_write] * 4 + [self.valid_read] * 3 + [self.reused_tag_write,
                                                                  self.retransmit]
        while time.monotonic() < end and len(self.failures) < 20:
            if self.rnd.random() < 0.5:
                self.rnd.choice(ops)()
            else:
                for _ in range(self.rnd.randint(1, 24)):
                    self.hostile()
        self.drain(0.5)
        # Every sector written, read back once more at the end.
        ranges = [(lba, min(SPF, REGION // 512 - lba)) for lba in range(0, REGION // 512, SPF)]
        ranges += [(lba, min(SPF, self.sectors - lba))
                   for lba in range(self.sectors - TAIL, self.sectors, SPF)]
        for lba, n in ranges:
            tag = self.new_tag()
            ans, _ = self.request(self.frame(tag, 0x40, n, READ_EXT, lba), tag)
            if ans is None or ans[36:36 + n * 512] != self.shadow_get(lba, n):
                self.fail(f"final read of {n} sectors at {lba}: "
                          f"{'no answer' if ans is None else 'differs'}")


def main():
    ifname, target_mac, mine, other, sectors, seed, seconds, shadow = sys.argv[1:9]
    h = Hostile(ifname, target_mac, shelf_slot(mine), shelf_slot(other), int(sectors), int(seed))
    h.run(float(seconds))
    with open(shadow, "wb") as f:
        f.write(h.head)
        f.write(h.tail)
    json.dump({"counts": h.counts, "failures": h.failures}, sys.stdout)


if __name__ == "__main__":
    main()
