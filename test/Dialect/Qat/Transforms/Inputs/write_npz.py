"""Writes the .npz value files of freeze-npz.test: `write_npz.py KIND PATH`.

good: mlp3's scales and zero points, and the weight arg3, in the dtypes a
user's numpy code produces (float64 scalars, int64 zero points, a float32
weight); the others break one thing each.
"""

import sys
import zipfile

import numpy as np

kind, path = sys.argv[1], sys.argv[2]
good = {
    "fc1.weight_scale": np.array([0.1, 0.2, 0.3, 0.4], np.float32),
    "arg0.act_scale": np.float64(0.05),
    "qparam:arg0.act_zero_point": np.int64(128),
    "fc2.weight_scale": np.array([0.1, 0.2, 0.3, 0.4], np.float32),
    "fc1.act_scale": np.float32(0.02),
    "fc1.act_zero_point": np.int32(0),
    "head.weight_scale": np.array([1, 2, 3], np.float32),
    "fc2.act_scale": np.float32(0.5),
    "fc2.act_zero_point": np.int32(3),
    "head.act_scale": np.float32(0.25),
    "head.act_zero_point": np.uint8(100),
    "param:arg3": np.arange(1, 13, dtype=np.float32).reshape(4, 3),
}
if kind == "good":
    np.savez(path, **good)
elif kind == "compressed":
    np.savez_compressed(path, **good)
elif kind == "shape":
    np.savez(path, **dict(good, **{"param:arg3": np.zeros((3, 4), np.float32)}))
elif kind == "big-endian":
    np.savez(path, **dict(good, **{"fc1.weight_scale": np.ones(4, ">f4")}))
elif kind == "fortran":
    np.savez(path, **dict(good, **{"param:arg3": np.asfortranarray(
        np.zeros((4, 3), np.float32))}))
elif kind == "range":
    np.savez(path, **dict(good, **{"fc1.act_zero_point": np.int64(1 << 40)}))
elif kind == "not-npy":
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
elif kind == "truncated":
    np.savez(path, **good)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])
elif kind in ("corrupt-directory", "corrupt-size", "corrupt-local"):
    # A valid archive with one field of its zip structure broken.
    import struct
    np.savez(path, **good)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    eocd = data.rfind(b"PK\x05\x06")
    directory = struct.unpack_from("<I", data, eocd + 16)[0]
    if kind == "corrupt-directory":
        struct.pack_into("<I", data, eocd + 16, directory + 3)
    elif kind == "corrupt-size":
        struct.pack_into("<I", data, directory + 24, 1 << 30)
    else:
        struct.pack_into("<I", data, directory + 42, 7)
    with open(path, "wb") as f:
        f.write(data)
elif kind == "corrupt-zip64":
    # A zip64 locator that points past the end of the file.
    import struct
    np.savez(path, **good)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<H", data, eocd + 10, 0xFFFF)
    locator = struct.pack("<IIQI", 0x07064B50, 0, len(data) * 2, 1)
    data = data[:eocd] + locator + data[eocd:]
    with open(path, "wb") as f:
        f.write(data)
else:
    raise SystemExit(f"unknown kind {kind}")
