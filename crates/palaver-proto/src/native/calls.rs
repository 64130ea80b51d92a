//! Typed native calls: the method name and params of a request, checked and decoded.

use super::errors::RpcError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An address as a client wrote it: `#room`, `@handle`, or an id (number or string).
/// Its meaning is parsed by `palaver_core::Target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address(pub String);

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            S(String),
            N(i64),
        }
        Ok(match Repr::deserialize(d)? {
            Repr::S(s) => Address(s),
            Repr::N(n) => Address(n.to_string()),
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct MeUpdate {
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub status_text: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RoomsCreate {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub members: Vec<Address>,
    pub topic: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Send {
    pub to: Address,
    pub text: String,
    pub client_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct History {
    pub conversation: Address,
    pub before_seq: Option<i64>,
    pub after_seq: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Debug)]
pub enum Call {
    Auth {
        token: String,
    },
    MeGet,
    MeUpdate(MeUpdate),
    UsersGet {
        user: Address,
    },
    UsersSearch {
        query: String,
        limit: Option<u32>,
    },
    RoomsCreate(RoomsCreate),
    RoomsDestroy {
        room: Address,
    },
    RoomsJoin {
        room: Address,
    },
    RoomsLeave {
        room: Address,
    },
    RoomsAddMembers {
        room: Address,
        members: Vec<Address>,
    },
    RoomsList,
    RoomsMembers {
        room: Address,
    },
    MessagesSend(Send),
    MessagesHistory(History),
    MessagesRead {
        conversation: Address,
        seq: i64,
    },
    ConversationsList,
    PresenceGet {
        users: Vec<Address>,
    },
    Typing {
        conversation: Address,
    },
    Sync {
        since: Option<String>,
        limit: Option<u32>,
    },
    Ping,
}

impl Call {
    /// Whether the call may be made before authentication.
    pub fn allowed_before_auth(&self) -> bool {
        matches!(self, Call::Auth { .. } | Call::Ping)
    }
}

#[derive(Deserialize)]
struct RoomParam {
    room: Address,
}
#[derive(Deserialize)]
struct ConversationParam {
    conversation: Address,
}
#[derive(Deserialize)]
struct TokenParam {
    token: String,
}
#[derive(Deserialize)]
struct UserParam {
    user: Address,
}
#[derive(Deserialize)]
struct SearchParam {
    query: String,
    limit: Option<u32>,
}
#[derive(Deserialize)]
struct MembersParam {
    room: Address,
    members: Vec<Address>,
}
#[derive(Deserialize)]
struct ReadParam {
    conversation: Address,
    seq: i64,
}
#[derive(Deserialize)]
struct UsersParam {
    users: Vec<Address>,
}
#[derive(Deserialize)]
struct SyncParam {
    since: Option<String>,
    limit: Option<u32>,
}

fn params<T: DeserializeOwned>(p: Option<Value>) -> Result<T, RpcError> {
    let value = match p {
        None => Value::Object(Default::default()),
        Some(v @ Value::Object(_)) => v,
        Some(_) => return Err(RpcError::invalid_params("params must be an object")),
    };
    serde_json::from_value(value).map_err(|e| RpcError::invalid_params(e.to_string()))
}

fn no_params(p: Option<Value>) -> Result<(), RpcError> {
    match p {
        None => Ok(()),
        Some(Value::Object(o)) if o.is_empty() => Ok(()),
        Some(Value::Array(a)) if a.is_empty() => Ok(()),
        Some(_) => Err(RpcError::invalid_params("this method takes no params")),
    }
}

/// Decodes a method name and its params into a typed call.
pub fn parse_call(method: &str, p: Option<Value>) -> Result<Call, RpcError> {
    Ok(match method {
        "auth" => {
            let TokenParam { token } = params(p)?;
            Call::Auth { token }
        }
        "me.get" => no_params(p).map(|_| Call::MeGet)?,
        "me.update" => Call::MeUpdate(params(p)?),
        "users.get" => {
            let UserParam { user } = params(p)?;
            Call::UsersGet { user }
        }
        "users.search" => {
            let SearchParam { query, limit } = params(p)?;
            Call::UsersSearch { query, limit }
        }
        "rooms.create" => Call::RoomsCreate(params(p)?),
        "rooms.destroy" => Call::RoomsDestroy {
            room: params::<RoomParam>(p)?.room,
        },
        "rooms.join" => Call::RoomsJoin {
            room: params::<RoomParam>(p)?.room,
        },
        "rooms.leave" => Call::RoomsLeave {
            room: params::<RoomParam>(p)?.room,
        },
        "rooms.add_members" => {
            let MembersParam { room, members } = params(p)?;
            Call::RoomsAddMembers { room, members }
        }
        "rooms.list" => no_params(p).map(|_| Call::RoomsList)?,
        "rooms.members" => Call::RoomsMembers {
            room: params::<RoomParam>(p)?.room,
        },
        "messages.send" => Call::MessagesSend(params(p)?),
        "messages.history" => Call::MessagesHistory(params(p)?),
        "messages.read" => {
            let ReadParam { conversation, seq } = params(p)?;
            Call::MessagesRead { conversation, seq }
        }
        "conversations.list" => no_params(p).map(|_| Call::ConversationsList)?,
        "presence.get" => Call::PresenceGet {
            users: params::<UsersParam>(p)?.users,
        },
        "typing" => Call::Typing {
            conversation: params::<ConversationParam>(p)?.conversation,
        },
        "sync" => {
            let SyncParam { since, limit } = params(p)?;
            Call::Sync { since, limit }
        }
        "ping" => no_params(p).map(|_| Call::Ping)?,
        other => return Err(RpcError::method_not_found(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_calls_and_rejects_bad_params() {
        match parse_call("messages.send", Some(json!({"to": 5, "text": "hi"}))).unwrap() {
            Call::MessagesSend(s) => assert_eq!(s.to, Address("5".into())),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_call("rooms.list", None).unwrap(),
            Call::RoomsList
        ));
        let e = parse_call("messages.send", Some(json!({"to": "#a"}))).unwrap_err();
        assert_eq!(e.code, -32602);
        let e = parse_call("messages.send", Some(json!(["#a", "x"]))).unwrap_err();
        assert_eq!(e.code, -32602);
        assert_eq!(parse_call("nope", None).unwrap_err().code, -32601);
        assert_eq!(
            parse_call("me.get", Some(json!({"x":1}))).unwrap_err().code,
            -32602
        );
    }
}
