# Record formats (docs/ota.md "Record formats"): the version of each flash record this
# bundle writes, the versions it reads, and the migrations between them.
#
# A format change goes out in two updates (expand, then contract), because a rollback puts
# the previous bundle back on the records the new one wrote:
#   1. a bundle that READS the new format and still writes the old one;
#   2. once that is committed everywhere, a bundle that writes the new format, with a
#      migration from every earlier format here.
# The meter enforces the order when an update is announced (ota/manifest.py check():
# format_unreadable, format_rollback_unsafe), and migrate() runs at every start, before any
# record is loaded, so a record is always in the format the running code writes.
# A record whose format is newer than this bundle reads stops the start with a clear error
# instead of being taken for garbage and rebuilt (which, for "prepay", would lose money).
from core.check import is_int


# name -> [write version, [versions read]]. "v" in the record body holds its version
# (core/prepay.py writes it; a record without one is version 1).
# "floor" (core/floor.py: the used-up command seq and reserved event seqs) and "clock" (the
# board clock's floor and last signed time) are here too: an older bundle must not read a
# newer one as empty (a lowered seq floor replays commands; a lost clock floor sets it back).
FORMATS = {"prepay": [1, [1]], "ota": [1, [1]], "app_slot": [1, [1]], "floor": [1, [1]],
           "clock": [1, [1]]}
# name -> {from version: function(body dict) -> body dict of the next version}
MIGRATIONS = {}


def version_of(d):
    v = d.get("v", 1)
    return v if is_int(v) else -1


def migrate(store, formats=None, migrations=None):
    """Bring every known record to the format this bundle writes. -> [(name, from, to)].
    Each record is rewritten once, atomically (core/store.py), with its new "v", so a power
    cut leaves it in the old or the new format and the next start finishes the job.
    ValueError when a record's format is one this bundle cannot read or migrate."""
    formats = FORMATS if formats is None else formats
    migrations = MIGRATIONS if migrations is None else migrations
    done = []
    for name in formats:
        d = store.load(name)
        if d is None:
            continue
        want, reads = formats[name]
        v0 = v = version_of(d)
        if v == want:
            continue
        if v > want or v < 1:
            raise ValueError("record %s has format %d; this bundle reads %r" % (name, v, reads))
        steps = migrations.get(name, {})
        while v < want:
            fn = steps.get(v)
            if fn is None:
                raise ValueError("no migration of record %s from format %d" % (name, v))
            d = fn(d)
            v += 1
            d["v"] = v
        store.save(name, d)
        done.append((name, v0, v))
    return done
