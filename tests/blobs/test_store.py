import contextlib
import hashlib
import os
import time
import uuid

import pytest

from modelledger.blobs import direct
from modelledger.blobs.ingest import Ingest, scan
from modelledger.blobs.store import BlobStore
from modelledger.blobs.tree import Tree
from modelledger.core.errors import InvalidInput, NotFound
from tests.conftest import write


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    if request.param == "local":
        return BlobStore(str(tmp_path / "blobs"))
    return BlobStore(f"memory://blobs-{uuid.uuid4().hex}")


def test_put_get_has_verify(store, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)  # spans several chunks
    info = store.put_file(write(tmp_path / "m.bin", data))
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size == len(data)
    assert store.has(info.sha256)
    assert store.get(info.sha256) == data
    assert store.verify(info.sha256)
    assert store.path(info.sha256).endswith(f"sha256/{info.sha256[:2]}/{info.sha256[2:]}")
    assert list(store.iter_shas()) == [info.sha256]


@pytest.mark.parametrize("size", [0, 1, 256 * 1024, 3 * 1024 * 1024 + 17])
def test_a_file_is_stored_whole_without_copy_file_range(tmp_path, monkeypatch, size):
    """Where the kernel can't copy between the files (another filesystem, an old kernel) the
    copy goes through user space."""
    import errno

    def refuse(*_args):
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(os, "copy_file_range", refuse)
    store = BlobStore(str(tmp_path / "blobs"))
    data = os.urandom(size)
    info = store.put_file(write(tmp_path / "m.bin", data))
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size == size
    assert store.get(info.sha256) == data


def open_files_under(root) -> list[str]:
    """This process's descriptors on files in ``root`` (unnamed ones read ``…/#123 (deleted)``)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(root)) and not os.path.isdir(target):
                found.append(target)
    return found


def settled(root) -> bool:
    """No temp name and no open descriptor left in the store (closes follow background fsyncs)."""
    deadline = time.monotonic() + 10
    while True:
        temps = [p for p in (root / "sha256").iterdir() if p.name.startswith(".tmp-")]
        if not temps and not open_files_under(root):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


@pytest.fixture(params=["unnamed", "named", "no-direct-io"])
def local_store(request, tmp_path):
    """A local store staging into unnamed files (O_TMPFILE), or into named temp files as on
    filesystems without them, or by kernel copy as on filesystems without direct I/O."""
    store = BlobStore(str(tmp_path / "blobs"))
    if request.param == "named":
        store._anonymous._supported = False
    if request.param == "no-direct-io":
        store._direct.enabled = False
    yield store
    store.close()  # the file made ahead for the next write
    assert settled(tmp_path / "blobs")


def test_a_staged_file_is_visible_only_once_committed(local_store, tmp_path):
    data = os.urandom(1 << 20)
    staged = local_store.stage_file(write(tmp_path / "m.bin", data))
    sha = hashlib.sha256(data).hexdigest()
    assert staged.info.sha256 == sha and staged.info.size == len(data)
    assert not local_store.has(sha)
    staged.commit()
    staged.discard()  # after a commit: a no-op
    assert local_store.get(sha) == data and local_store.verify(sha)


def test_a_discarded_staged_file_leaves_nothing(local_store, tmp_path):
    staged = local_store.stage_file(write(tmp_path / "m.bin", os.urandom(4096)))
    staged.discard()
    staged.commit()  # after a discard: nothing to publish
    assert list(local_store.iter_shas()) == []


def test_staging_bytes_already_stored_publishes_nothing_new(local_store, tmp_path):
    first = local_store.put_file(write(tmp_path / "a.bin", b"same bytes"))
    path = local_store.path(first.sha256)
    inode = os.stat(path).st_ino
    again = local_store.stage_file(write(tmp_path / "b.bin", b"same bytes"))
    assert again.commit() == first
    assert os.stat(path).st_ino == inode and list(local_store.iter_shas()) == [first.sha256]


def test_an_object_is_stored_even_when_its_fan_out_directory_was_removed(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    sha = hashlib.sha256(b"weights").hexdigest()
    os.rmdir(tmp_path / "blobs" / "sha256" / sha[:2])
    assert store.put_file(write(tmp_path / "m.bin", b"weights")).sha256 == sha
    assert store.get(sha) == b"weights"


def test_same_bytes_stored_once(store):
    a = store.put_bytes(b"hello")
    b = store.put_bytes(b"hello")
    assert a == b and list(store.iter_shas()) == [a.sha256]


def test_missing_blob(store):
    assert not store.has("0" * 64)
    with pytest.raises(NotFound):
        store.get("0" * 64)


def test_local_objects_are_never_overwritten_and_no_temp_files_remain(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    info = store.put_bytes(b"model")
    path = store.path(info.sha256)
    inode = os.stat(path).st_ino
    store.put_bytes(b"model")
    assert os.stat(path).st_ino == inode
    assert not [p for p in (tmp_path / "blobs" / "sha256").iterdir() if p.name.startswith(".tmp-")]
    # stored objects are read-only, so a stray write fails loudly
    assert not os.access(path, os.W_OK) or os.geteuid() == 0


def test_corruption_is_detected(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    info = store.put_bytes(b"weights")
    path = store.path(info.sha256)
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(b"tampered")
    assert not store.verify(info.sha256)


def put_dir(store, folder):
    files = Ingest(store)
    tree = Tree.of(files.run(scan([folder])))
    files.commit()
    return tree, store.put_bytes(tree.canonical())


def test_directory_tree(store, tmp_path):
    d = tmp_path / "adapter"
    write(d / "config.json", "{}")
    write(d / "weights" / "a.bin", b"\x00" * 10)
    run = write(d / "run.sh", "#!/bin/sh")
    run.chmod(0o755)
    tree, info = put_dir(store, d)
    assert [e.path for e in tree.entries] == ["config.json", "run.sh", "weights/a.bin"]
    assert {e.path: e.mode for e in tree.entries}["run.sh"] == 0o755
    assert info.sha256 == tree.sha256
    assert store.get_tree(tree.sha256) == tree
    # the tree depends on bytes and relative paths only, not on where the folder is
    other = tmp_path / "elsewhere" / "copy"
    for e in tree.entries:
        write(other / e.path, store.get(e.sha256))
    (other / "run.sh").chmod(0o755)
    assert put_dir(store, other)[0].sha256 == tree.sha256


def test_symlink_outside_directory_is_refused_before_anything_is_stored(store, tmp_path):
    d = tmp_path / "art"
    write(d / "a.bin", b"a")
    secret = write(tmp_path / "secret.txt", "s")
    (d / "link").symlink_to(secret)
    with pytest.raises(InvalidInput, match="symlink points outside"):
        put_dir(store, d)
    assert list(store.iter_shas()) == []


def test_symlink_inside_directory_is_stored_as_its_content(store, tmp_path):
    d = tmp_path / "art"
    write(d / "a.bin", b"a")
    (d / "alias.bin").symlink_to(d / "a.bin")
    tree, _ = put_dir(store, d)
    assert {e.path: e.sha256 for e in tree.entries}["alias.bin"] == hashlib.sha256(b"a").hexdigest()


def test_unreadable_file(store, tmp_path, deny_read):
    p = write(tmp_path / "x", b"x")
    deny_read(p)
    with pytest.raises(InvalidInput, match="permission denied"):
        store.put_file(p)


def cached(path) -> bool:
    """Whether the file's first page is in the page cache (a read that must not wait succeeds)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.preadv(fd, [bytearray(4096)], 0, os.RWF_NOWAIT)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def kernel_drops_pages(folder) -> bool:
    """Whether this file system gives back a clean file's pages when advised to (some layered or
    network file systems keep them whatever the advice)."""
    probe = write(folder / "probe.bin", os.urandom(1 << 16))
    fd = os.open(probe, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    dropped = not cached(probe)
    probe.unlink()
    return dropped


def test_a_stored_copy_leaves_the_page_cache_once_durable(local_store, tmp_path, monkeypatch):
    """The store's copy is written once and read rarely: its pages are given back (for the next
    copy) instead of growing the cache by every artifact."""
    advised: list[int] = []  # the inodes advised out
    advise = os.posix_fadvise

    def spy(fd: int, offset: int, length: int, advice: int) -> None:
        if advice == os.POSIX_FADV_DONTNEED:
            advised.append(os.fstat(fd).st_ino)
        advise(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    source = write(tmp_path / "m.bin", os.urandom(1 << 20))
    staged = local_store.stage_file(source)
    assert cached(source)
    info = staged.commit()
    stored = local_store.path(info.sha256)
    assert os.stat(stored).st_ino in advised  # whether or not the write went around the cache
    if kernel_drops_pages(tmp_path):  # (some file systems keep a file's pages whatever the advice)
        assert not cached(stored)
    assert local_store.get(info.sha256) == source.read_bytes()  # read back from the disk


@pytest.mark.parametrize(
    "size", [0, 1, 4095, 4096, 4097, 1 << 20, direct.DIRECT_MAX, direct.DIRECT_MAX + 1]
)
def test_a_staged_file_is_stored_whole_at_every_size(local_store, tmp_path, size):
    """Direct I/O writes whole blocks: the last one padded, then cut to the file's size. Bigger
    files than the buffer are copied by the kernel."""
    data = os.urandom(size)
    info = local_store.stage_file(write(tmp_path / "m.bin", data)).commit()
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size == size
    assert local_store.get(info.sha256) == data and local_store.verify(info.sha256)


def test_a_staged_file_names_the_file_read(store, tmp_path):
    target = write(tmp_path / "real" / "m.bin", b"bytes")
    (tmp_path / "link.bin").symlink_to(target)
    staged = store.stage_file(tmp_path / "link.bin")
    assert staged.source == str(target.resolve())
    staged.discard()


def test_a_file_removed_after_it_was_opened_is_named_by_its_path(tmp_path):
    from modelledger.blobs.local_io import opened_path as _opened_path

    path = write(tmp_path / "gone.bin", b"x")
    fd = os.open(path, os.O_RDONLY)
    try:
        path.unlink()
        assert _opened_path(fd, path) == str(path)
    finally:
        os.close(fd)


def test_a_stored_object_is_read_only(local_store, tmp_path):
    info = local_store.stage_file(write(tmp_path / "m.bin", os.urandom(5000))).commit()
    assert os.stat(local_store.path(info.sha256)).st_mode & 0o777 == 0o444


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 1 << 20])
def test_a_direct_write_is_durable_when_it_returns(tmp_path, monkeypatch, size):
    """Whole blocks go out with RWF_DSYNC (durable as the write returns, no fsync); a padded
    last block is cut to size and the file fsynced; an empty file is fsynced too."""
    import mmap

    calls = []
    pwritev, fsync = os.pwritev, os.fsync
    monkeypatch.setattr(os, "pwritev", lambda *a: calls.append(("pwritev", a[-1])) or pwritev(*a))
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(("fsync",)) or fsync(fd))
    data = os.urandom(size)
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    try:
        direct.enable(fd)
        with mmap.mmap(-1, direct.DIRECT_MAX + direct.ALIGN) as buf:
            buf[:size] = data
            direct.write_durably(fd, buf, size)
    finally:
        os.close(fd)
    assert (tmp_path / "out").read_bytes() == data
    whole = size and size % direct.ALIGN == 0
    if whole and hasattr(os, "RWF_DSYNC"):
        assert calls and all(c == ("pwritev", os.RWF_DSYNC) for c in calls)
    else:
        assert calls[-1] == ("fsync",)
        assert all(c in {("pwritev", 0), ("fsync",)} for c in calls)


def test_without_direct_io_the_store_copies_and_stops_trying(tmp_path, monkeypatch):
    monkeypatch.setattr(direct, "enable", lambda fd: False)  # as on a filesystem without it
    store = BlobStore(str(tmp_path / "blobs"))
    data = os.urandom(10_000)
    assert store.put_file(write(tmp_path / "m.bin", data)).size == len(data)
    assert store._direct.enabled is False
    assert store.get(hashlib.sha256(data).hexdigest()) == data
    store.close()
    assert settled(tmp_path / "blobs")


def test_a_file_bigger_than_the_buffer_is_not_read_into_it(tmp_path):
    import mmap

    path = write(tmp_path / "m.bin", os.urandom(3 * 4096))
    with open(path, "rb") as src, mmap.mmap(-1, 2 * 4096) as small, mmap.mmap(-1, 4 * 4096) as big:
        assert direct.read_whole(src.fileno(), small) is None
        assert direct.read_whole(src.fileno(), big) == 3 * 4096
        assert big[: 3 * 4096] == path.read_bytes()


def test_buffers_are_reused_and_only_a_few_kept():
    buffers = direct.Buffers()
    taken = [buffers.take() for _ in range(4)]
    for buf in taken:
        buffers.give(buf)
    assert buffers.take() is taken[1] and taken[2].closed and taken[3].closed
    buffers.close()
    assert taken[0].closed


def test_only_a_file_up_to_the_buffer_size_is_written_around_the_page_cache(tmp_path, monkeypatch):
    written = []
    write_durably = direct.write_durably

    def recording(fd, buf, size):
        written.append(size)
        write_durably(fd, buf, size)

    monkeypatch.setattr(direct, "write_durably", recording)
    store = BlobStore(str(tmp_path / "blobs"))
    store.put_file(write(tmp_path / "small.bin", os.urandom(direct.DIRECT_MAX)))
    store.put_file(write(tmp_path / "big.bin", os.urandom(direct.DIRECT_MAX + 1)))
    assert written == [direct.DIRECT_MAX]
    store.close()
    assert settled(tmp_path / "blobs")
