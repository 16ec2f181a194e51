//! callrec: the binary's library half (config, drivers, spool, uploader).
