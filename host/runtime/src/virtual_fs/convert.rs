//! Between `wtb_vfs`'s types and the generated `wasi:filesystem` ones, and between ours and
//! wasmtime-wasi's (for fixture descriptors, which wasmtime-wasi serves).

use super::types::{self, DescriptorStat, DescriptorType, ErrorCode};
use super::{FsError, FsResult};
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;
use wasmtime_wasi::p2::bindings::filesystem::types as wt;
use wtb_vfs::{Errno, Kind, Stat};

/// The `error-code` a real directory gives for `e`.
pub(super) fn code(e: Errno) -> ErrorCode {
    match e {
        Errno::Access => ErrorCode::Access,
        Errno::BadDescriptor => ErrorCode::BadDescriptor,
        Errno::Busy => ErrorCode::Busy,
        Errno::Exist => ErrorCode::Exist,
        Errno::Invalid => ErrorCode::Invalid,
        Errno::IsDirectory => ErrorCode::IsDirectory,
        Errno::Loop => ErrorCode::Loop,
        Errno::NameTooLong => ErrorCode::NameTooLong,
        Errno::NoEntry => ErrorCode::NoEntry,
        Errno::NotDirectory => ErrorCode::NotDirectory,
        Errno::NotEmpty => ErrorCode::NotEmpty,
        Errno::NotPermitted => ErrorCode::NotPermitted,
        Errno::InsufficientSpace => ErrorCode::InsufficientSpace,
        Errno::FileTooLarge => ErrorCode::FileTooLarge,
        Errno::Io => ErrorCode::Io,
    }
}

pub(super) fn kind(k: Kind) -> DescriptorType {
    match k {
        Kind::File => DescriptorType::RegularFile,
        Kind::Dir => DescriptorType::Directory,
        Kind::Symlink => DescriptorType::SymbolicLink,
    }
}

fn datetime(nanos: u64) -> Option<Datetime> {
    Some(Datetime { seconds: nanos / 1_000_000_000, nanoseconds: (nanos % 1_000_000_000) as u32 })
}

pub(super) fn stat(s: Stat) -> DescriptorStat {
    DescriptorStat {
        type_: kind(s.kind),
        link_count: s.nlink,
        size: s.size,
        data_access_timestamp: datetime(s.times.access),
        data_modification_timestamp: datetime(s.times.modify),
        status_change_timestamp: datetime(s.times.change),
    }
}

/// Maps between two generated enums with the same variant names.
macro_rules! same_variants {
    ($from:ty => $to:ty, $v:expr, [$($name:ident),* $(,)?]) => {
        match $v { $(<$from>::$name => <$to>::$name,)* }
    };
}

macro_rules! error_codes {
    ($m:ident, $from:ty => $to:ty, $v:expr) => {
        $m!($from => $to, $v, [
            Access, WouldBlock, Already, BadDescriptor, Busy, Deadlock, Quota, Exist,
            FileTooLarge, IllegalByteSequence, InProgress, Interrupted, Invalid, Io, IsDirectory,
            Loop, TooManyLinks, MessageSize, NameTooLong, NoDevice, NoEntry, NoLock,
            InsufficientMemory, InsufficientSpace, NotDirectory, NotEmpty, NotRecoverable,
            Unsupported, NoTty, NoSuchDevice, Overflow, NotPermitted, Pipe, ReadOnly, InvalidSeek,
            TextFileBusy, CrossDevice,
        ])
    };
}

/// A fixture call's result, in our types.
pub(super) fn host<T>(r: Result<T, wasmtime_wasi::p2::FsError>) -> FsResult<T> {
    r.map_err(|e| match e.downcast() {
        Ok(c) => FsError::Code(error_codes!(same_variants, wt::ErrorCode => ErrorCode, c)),
        Err(trap) => FsError::Trap(trap),
    })
}

pub(super) fn host_type(t: wt::DescriptorType) -> DescriptorType {
    same_variants!(wt::DescriptorType => DescriptorType, t, [
        Unknown, BlockDevice, CharacterDevice, Directory, Fifo, SymbolicLink, RegularFile, Socket,
    ])
}

pub(super) fn host_stat(s: wt::DescriptorStat) -> DescriptorStat {
    DescriptorStat {
        type_: host_type(s.type_),
        link_count: s.link_count,
        size: s.size,
        data_access_timestamp: s.data_access_timestamp,
        data_modification_timestamp: s.data_modification_timestamp,
        status_change_timestamp: s.status_change_timestamp,
    }
}

pub(super) fn host_entry(e: wt::DirectoryEntry) -> types::DirectoryEntry {
    types::DirectoryEntry { type_: host_type(e.type_), name: e.name }
}

/// Flag sets with the same flag names in both bindings.
macro_rules! same_flags {
    ($name:ident, $from:ty => $to:ty, [$($flag:ident),* $(,)?]) => {
        pub(super) fn $name(f: $from) -> $to {
            let mut out = <$to>::empty();
            $(if f.contains(<$from>::$flag) { out |= <$to>::$flag; })*
            out
        }
    };
}
same_flags!(path_flags, types::PathFlags => wt::PathFlags, [SYMLINK_FOLLOW]);
same_flags!(open_flags, types::OpenFlags => wt::OpenFlags, [CREATE, DIRECTORY, EXCLUSIVE, TRUNCATE]);
same_flags!(descriptor_flags, types::DescriptorFlags => wt::DescriptorFlags, [
    READ, WRITE, FILE_INTEGRITY_SYNC, DATA_INTEGRITY_SYNC, REQUESTED_WRITE_SYNC, MUTATE_DIRECTORY,
]);
same_flags!(host_descriptor_flags, wt::DescriptorFlags => types::DescriptorFlags, [
    READ, WRITE, FILE_INTEGRITY_SYNC, DATA_INTEGRITY_SYNC, REQUESTED_WRITE_SYNC, MUTATE_DIRECTORY,
]);

pub(super) fn timestamp(t: types::NewTimestamp) -> wt::NewTimestamp {
    match t {
        types::NewTimestamp::NoChange => wt::NewTimestamp::NoChange,
        types::NewTimestamp::Now => wt::NewTimestamp::Now,
        types::NewTimestamp::Timestamp(d) => wt::NewTimestamp::Timestamp(d),
    }
}

pub(super) fn advice(a: types::Advice) -> wt::Advice {
    same_variants!(types::Advice => wt::Advice, a, [Normal, Sequential, Random, WillNeed, DontNeed, NoReuse])
}

pub(super) fn hash(h: wt::MetadataHashValue) -> types::MetadataHashValue {
    types::MetadataHashValue { lower: h.lower, upper: h.upper }
}
