//! One file per command: what it names and needs, and its handler (see `Command`).

mod ack;
mod commit;
mod empty;
mod fetch;
mod list_offset;
mod metadata;
mod ping;
mod produce;
mod refresh;
mod route_info;
mod subscribe;
mod unsubscribe;
