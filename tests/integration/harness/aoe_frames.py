"""Hand-made AoE frames from a raw socket, for tests of the target.

Run inside a node namespace (it needs the node's NIC):

    aoe_frames.py IFACE TARGET_MAC SHELF SLOT probe      anything answered? (JSON)
    aoe_frames.py IFACE TARGET_MAC SHELF SLOT malformed  send junk, report answers (JSON)
    aoe_frames.py IFACE TARGET_MAC SHELF SLOT lba28 LBA  READ SECTORS (0x20) one sector, hex

Frames are built here from the r11 layout, independently of Karri's C code,
so a shared misreading of the spec would show.
"""

import json
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_AOE = 0x88A2


def mac_bytes(s):
    return bytes(int(x, 16) for x in s.split(":"))


class Port:
    def __init__(self, ifname):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_AOE))
        self.s.bind((ifname, ETH_P_AOE))
        # Room for every answer to a burst of hundreds of junk frames.
        self.s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)    # SO_RCVBUFFORCE
        self.mac = self.s.getsockname()[4][:6]

    def send(self, frame, pad=True):
        """Send; pad=False keeps a short frame short (veth does not pad)."""
        if pad and len(frame) < 60:
            frame = frame + bytes(60 - len(frame))
        try:
            self.s.send(frame)
        except OSError:
            pass    # shorter than an Ethernet header: the kernel refuses it

    def answers(self, seconds):
        """Every AoE response that arrives within `seconds`."""
        out, end = [], time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                return out
            f = self.s.recv(16384)
            if len(f) >= 24 and f[14] & 0x08 and f[0:6] == self.mac:
                out.append(f)


def header(dst, src, shelf, slot, cmd, tag, flags=0, ver=1):
    return dst + src + struct.pack(">HBBHBBI", ETH_P_AOE, ver << 4 | flags, 0, shelf, slot, cmd, tag)


def ata(aflags, count, cmd, lba, ext=True):
    lb = lba.to_bytes(6, "little")
    if not ext:
        lb = lb[:3] + bytes([0xe0 | (lb[3] & 0x0f)]) + b"\0\0"
    return bytes([aflags, 0, count, cmd]) + lb + b"\0\0"


def decode(f):
    flags, err, shelf, slot, cmd, tag = f[14] & 0x0f, f[15], *struct.unpack(">HBBI", f[16:24])
    d = {"flags": flags, "error": err, "shelf": shelf, "slot": slot, "cmd": cmd, "tag": tag,
         "len": len(f)}
    if cmd == 0 and len(f) >= 36:
        d["status"] = f[27]
        d["ata_err"] = f[25]
        d["padding_zero"] = not any(f[36:60])
    return d


def probe(p, dst, shelf, slot):
    bcast = b"\xff" * 6
    p.send(header(bcast, p.mac, shelf, slot, 1, 0x100) + bytes(8))
    p.send(header(dst, p.mac, shelf, slot, 0, 0x101) + ata(0x40, 1, 0xEC, 0))
    p.send(header(dst, p.mac, shelf, slot, 0, 0x102) + ata(0x40, 1, 0x24, 0))
    p.send(header(dst, p.mac, shelf, slot, 2, 0x103) + bytes(4))
    return {"answers": [decode(f) for f in p.answers(1.5)]}


def malformed(p, dst, shelf, slot):
    src = p.mac
    good_ata = header(dst, src, shelf, slot, 0, 1) + ata(0x40, 1, 0x24, 0)
    frames = []
    # Every truncation of a valid request, sent unpadded.
    short = [good_ata[:n] for n in range(0, len(good_ata))]
    frames.append(header(dst, src, shelf, slot, 0, 2, ver=2) + ata(0x40, 1, 0x24, 0))   # version 2
    frames.append(header(dst, src, shelf, slot, 0, 3, flags=0x8) + ata(0x40, 1, 0x24, 0))  # a "response"
    frames.append(header(dst, src, 0xffff, 0xff, 0, 4) + ata(0x40, 1, 0x24, 0))        # broadcast ATA
    frames.append(header(dst, src, shelf, slot, 1, 5) + struct.pack(">HHBBH", 0, 0, 0, 0x10, 1000))  # cslen > frame
    frames.append(header(dst, src, shelf, slot, 2, 6) + bytes([0, 0, 0, 200]) + bytes(16))  # dircount > frame
    rnd = random.Random(7)
    for i in range(500):
        frames.append(header(dst, src, shelf, slot, rnd.randrange(256), 1000 + i) +
                      bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 64))))
    for i in range(200):
        frames.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(14, 200))))
    # Requests that must be answered with an ATA error (ABRT), not a crash:
    errors = {
        0x7001: ata(0x40, 200, 0x24, 0),            # more sectors than a frame holds
        0x7002: ata(0x40, 1, 0x24, 1 << 40),        # beyond the end
        0x7003: ata(0x41, 4, 0x34, 0) + bytes(512),  # write: less data than count
        0x7004: ata(0x40, 1, 0x99, 0),              # unknown ATA command
        0x7005: ata(0x00, 1, 0x24, 0),              # EXT command without the EXT flag
        0x7006: ata(0x40, 0, 0x24, 0),              # zero sectors
    }
    for tag, body in errors.items():
        frames.append(header(dst, src, shelf, slot, 0, tag) + body)
    frames.append(header(dst, src, shelf, slot, 3, 0x7100) + bytes(4))   # reserve/release: BADCMD
    frames.append(header(dst, src, shelf, slot, 2, 0x7200) +            # mask edit: refused
                  bytes([0, 1, 0, 1]) + bytes([0, 1]) + src)
    for f in short:
        p.send(f, pad=False)
    for f in frames:
        p.send(f)
    got = [decode(f) for f in p.answers(2.0)]
    return {"sent": len(frames) + len(short), "answers": got}


def lba28(p, dst, shelf, slot, lba):
    p.send(header(dst, p.mac, shelf, slot, 0, 0x2828) + ata(0x00, 1, 0x20, lba, ext=False))
    for f in p.answers(2.0):
        d = decode(f)
        if d["tag"] == 0x2828:
            return {"status": d["status"], "data": f[36:36 + 512].hex()}
    return {"status": None}


def main():
    ifname, dst, shelf, slot, mode = sys.argv[1:6]
    p = Port(ifname)
    dst, shelf, slot = mac_bytes(dst), int(shelf), int(slot)
    if mode == "probe":
        out = probe(p, dst, shelf, slot)
    elif mode == "malformed":
        out = malformed(p, dst, shelf, slot)
    elif mode == "lba28":
        out = lba28(p, dst, shelf, slot, int(sys.argv[6]))
    else:
        sys.exit(f"unknown mode {mode}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
