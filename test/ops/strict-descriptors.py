"""Loads the FileDescriptorSet on stdin into a fresh protobuf descriptor pool
(the C++ one in Debian's python3-protobuf: as strict as protoc), dependencies
first, then resolves every service, message and enum named on the command
line. Prints one line per problem and exits 1 when there is any."""

import sys

from google.protobuf import descriptor_pb2, descriptor_pool

problems = []
fds = descriptor_pb2.FileDescriptorSet.FromString(sys.stdin.buffer.read())
files = {f.name: f for f in fds.file}
pool = descriptor_pool.DescriptorPool()
added = set()


def add(name, chain=()):
    if name in added:
        return
    if name not in files:
        problems.append(f"{chain[-1] if chain else '?'} imports {name}, which was not served")
        return
    for dep in files[name].dependency:
        add(dep, chain + (name,))
    try:
        pool.Add(files[name])
    except Exception as err:  # the pool's own words: TypeError / DescriptorError
        problems.append(f"{name}: {err}")
    added.add(name)


for name in files:
    add(name)

for symbol in sys.argv[1:]:
    kind, _, full_name = symbol.partition(":")
    try:
        if kind == "service":
            pool.FindServiceByName(full_name)
        elif kind == "message":
            pool.FindMessageTypeByName(full_name)
        else:
            pool.FindEnumTypeByName(full_name)
    except Exception as err:
        problems.append(f"{symbol}: {err}")

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
