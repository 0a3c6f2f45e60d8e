// The newcomer's web app: sign in, open a one-on-one chat, and watch it live. Plain REST for
// everything the seed has, and the SSE event stream (with a single-use ticket) for live events.
const $ = (id) => document.getElementById(id);
let session; // { token, user }
let peer; // the username of the open conversation
let stream;
const seen = new Set();

async function api(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (session) headers.authorization = `Bearer ${session.token}`;
  const res = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.error?.message ?? `${res.status} ${res.statusText}`);
  return json;
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const credentials = { username: form.get("username"), password: form.get("password") };
  try {
    if (event.submitter?.value === "register") await api("POST", "/auth/register", credentials);
    session = await api("POST", "/auth/login", credentials);
    $("signin").hidden = true;
    $("chat").hidden = false;
    $("me").textContent = `Signed in as ${session.user.username}`;
    connect("");
  } catch (err) {
    $("signin-error").textContent = err.message;
  }
});

$("open-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  peer = new FormData(event.target).get("peer").trim().toLowerCase();
  $("title").textContent = `Chat with ${peer}`;
  $("messages").replaceChildren();
  seen.clear();
  peerConversation = undefined;
  for (const input of $("send-form").elements) input.disabled = false;
  try {
    const page = await api("GET", `/chat/messages?recipient=${encodeURIComponent(peer)}`);
    for (const m of page.messages) {
      const peerId = m.senderId === session.user.userId ? m.recipientId : m.senderId;
      peerConversation = directConversationId(session.user.userId, peerId);
      show(m.messageId, m.senderId, m.content);
    }
  } catch (err) {
    $("chat-error").textContent = err.message;
  }
});

$("send-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = event.target.elements.message;
  try {
    const m = await api("POST", "/chat/send", {
      recipient: peer,
      message: input.value,
      clientMessageId: crypto.randomUUID(),
    });
    show(m.messageId, m.senderId, m.content);
    input.value = "";
  } catch (err) {
    $("chat-error").textContent = err.message;
  }
});

let lastTyping = 0;
$("send-form").elements.message.addEventListener("input", () => {
  const conversationId = peerConversation;
  if (!conversationId || Date.now() - lastTyping < 3000) return;
  lastTyping = Date.now();
  api("POST", "/v1/events/typing", { conversationId, typing: true }).catch(() => {});
});

let peerConversation; // learnt from the first message of the open chat

/** The same id the server gives a one-on-one conversation: the two user ids in order. */
const directConversationId = (a, b) => (a < b ? `d:${a}:${b}` : `d:${b}:${a}`);

function show(messageId, senderId, content, senderName) {
  if (seen.has(messageId)) return;
  seen.add(messageId);
  const item = document.createElement("li");
  const mine = senderId === session.user.userId;
  item.className = mine ? "mine" : "";
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = mine ? "me" : (senderName ?? peer);
  item.append(who, document.createTextNode(content));
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
}

/** Opens the SSE stream from `cursor`; reconnects with the last cursor, so nothing is missed. */
async function connect(cursor) {
  stream?.close();
  try {
    const { ticket } = await api("POST", "/v1/events/ticket");
    const query = new URLSearchParams({ ticket });
    if (cursor) query.set("cursor", cursor);
    stream = new EventSource(`/v1/events?${query}`);
  } catch (err) {
    $("stream-state").textContent = `offline: ${err.message}`;
    setTimeout(() => connect(cursor), 3000);
    return;
  }
  let last = cursor;
  const onEvent = (raw) => {
    const event = JSON.parse(raw.data);
    if (event.cursor) last = event.cursor;
    handle(event);
  };
  for (const kind of ["message", "receipt", "typing", "presence", "group", "control"]) {
    stream.addEventListener(kind, onEvent);
  }
  stream.onopen = () => {
    $("stream-state").textContent = "live";
  };
  stream.onerror = () => {
    // EventSource retries by itself, but a ticket is single-use: reconnect with a new one.
    stream.close();
    $("stream-state").textContent = "reconnecting…";
    setTimeout(() => connect(last), 1000);
  };
}

function handle(event) {
  const message = event.message?.message;
  if (message) {
    const other = message.senderId === session.user.userId ? message.recipientUsername : message.senderUsername;
    if (!peer || other !== peer) return;
    peerConversation = message.conversationId;
    show(message.messageId, message.senderId, message.content, message.senderUsername);
  } else if (event.typing && event.typing.conversationId === peerConversation) {
    $("typing").textContent = event.typing.typing ? `${event.typing.username} is typing…` : "";
    setTimeout(() => {
      $("typing").textContent = "";
    }, 5000);
  } else if (event.control?.kind === "STREAM_CONTROL_KIND_RECONNECT") {
    connect(event.cursor);
  }
}
