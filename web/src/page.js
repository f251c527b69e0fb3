// The browser side of `voipctl verify --browser`: a JsSIP user agent the driver
// (web/driver.mjs) steps through register / call / answer / stats / hang up.
// Credentials arrive through configure() and are never written to the page or console.
import JsSIP from 'jssip';

JsSIP.debug.disable();

const state = {
  config: null,
  ua: null,
  session: null,
  registered: false,
  events: [],
};

function note(event, detail) {
  state.events.push({ at: Date.now(), event, detail: detail ?? null });
}

function setStatus(text) {
  document.getElementById('status').textContent = text;
}

function withTimeout(promise, ms, what) {
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

function pcConfig(policy) {
  return {
    iceServers: state.config.iceServers,
    iceTransportPolicy: policy,
    // "max-bundle" where kamailio adds the BUNDLE group rtpengine < 14 leaves out (the
    // node's platform decides), else "balanced": chromium refuses max-bundle without a group.
    bundlePolicy: state.config.bundlePolicy,
    rtcpMuxPolicy: 'require',
  };
}

function callOptions(policy) {
  return { mediaConstraints: { audio: true, video: false }, pcConfig: pcConfig(policy) };
}

// Follow one session; `settled` resolves on confirmed and rejects on failed.
function track(session, originator, callId) {
  const entry = { session, originator, callId, state: 'new', cause: null };
  // SDP in both directions is kept for the run's logs (it holds no credentials).
  session.on('sdp', (e) => note('sdp', { originator: e.originator, type: e.type, sdp: e.sdp }));
  entry.settled = new Promise((resolve, reject) => {
    session.on('progress', () => { entry.state = 'progress'; });
    session.on('accepted', () => { entry.state = 'accepted'; });
    session.on('confirmed', () => {
      entry.state = 'confirmed';
      note('confirmed', { originator, callId });
      resolve();
    });
    session.on('failed', (e) => {
      entry.state = 'failed';
      entry.cause = `${e.originator}: ${e.cause}${e.message && e.message.status_code ? ` (${e.message.status_code})` : ''}`;
      note('failed', { cause: entry.cause });
      reject(new Error(`call failed: ${entry.cause}`));
    });
  });
  entry.ended = new Promise((resolve) => {
    session.on('ended', (e) => {
      entry.state = 'ended';
      entry.cause = `${e.originator}: ${e.cause}`;
      note('ended', { cause: entry.cause });
      resolve(entry.cause);
    });
    session.on('failed', () => resolve(entry.cause));
  });
  entry.settled.catch(() => {});
  state.session = entry;
  return entry;
}

function configure(config) {
  state.config = config;
  setStatus('configured');
  return { configured: true };
}

async function register(timeoutMs) {
  const cfg = state.config;
  const socket = new JsSIP.WebSocketInterface(cfg.wsUrl);
  const ua = new JsSIP.UA({
    sockets: [socket],
    uri: cfg.uri,
    password: cfg.password,
    display_name: cfg.displayName,
    register: true,
    register_expires: cfg.registerExpires,
    session_timers: false,
    user_agent: 'voipctl-browser-probe',
    connection_recovery_min_interval: 2,
    connection_recovery_max_interval: 4,
  });
  state.ua = ua;
  const done = new Promise((resolve, reject) => {
    ua.on('connected', () => note('ws-connected'));
    ua.on('disconnected', (e) => note('ws-disconnected', { error: Boolean(e && e.error) }));
    ua.on('registered', () => {
      state.registered = true;
      note('registered');
      resolve();
    });
    ua.on('registrationFailed', (e) => {
      note('registration-failed', { cause: e.cause });
      reject(new Error(`registration failed: ${e.cause}${e.response ? ` (${e.response.status_code})` : ''}`));
    });
  });
  ua.on('newRTCSession', (e) => {
    if (e.originator !== 'remote') {
      return;
    }
    const entry = track(e.session, 'remote', e.request.call_id);
    note('incoming', { callId: entry.callId });
    if (state.config.autoAnswer) {
      e.session.answer(callOptions(state.config.answerPolicy));
    }
  });
  ua.start();
  try {
    await withTimeout(done, timeoutMs, 'REGISTER over WSS');
  } catch (err) {
    const connected = state.events.some((ev) => ev.event === 'ws-connected');
    throw new Error(connected ? err.message : `${err.message}; the WebSocket to ${cfg.wsUrl} never opened`);
  }
  setStatus('registered');
  return { registered: true };
}

async function call(target, policy, timeoutMs) {
  const session = state.ua.call(target, callOptions(policy));
  const entry = track(session, 'local', null);
  // The INVITE (and its Call-ID) leaves only after ICE gathering, so it is read when sent.
  session.on('sending', (e) => { entry.callId = e.request.call_id; });
  await withTimeout(entry.settled, timeoutMs, `call to ${target}`);
  setStatus('in call');
  return { callId: entry.callId };
}

async function waitIncoming(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  // a call that already ended (an earlier incoming one) is not the one awaited
  const live = (s) => s && s.originator === 'remote' && s.state !== 'ended' && s.state !== 'failed';
  while (!live(state.session)) {
    if (Date.now() > deadline) {
      throw new Error(`no incoming call within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const entry = state.session;
  await withTimeout(entry.settled, Math.max(1000, deadline - Date.now()), 'answering the incoming call');
  setStatus('in call');
  return { callId: entry.callId };
}

// A target refresh from this side: a re-INVITE with a fresh offer (as hold, resume or an
// ICE restart would send); resolves when its 2xx arrived and the answer was applied.
async function refresh(timeoutMs) {
  const entry = state.session;
  if (!entry || entry.state !== 'confirmed') {
    throw new Error('no confirmed call to send a re-INVITE in');
  }
  const done = new Promise((resolve, reject) => {
    const sent = entry.session.renegotiate({ rtcOfferConstraints: {} }, () => resolve());
    if (!sent) {
      reject(new Error('JsSIP refused to send the re-INVITE'));
    }
    entry.ended.then((cause) => reject(new Error(`the call ended during the re-INVITE: ${cause}`)));
  });
  await withTimeout(done, timeoutMs, 're-INVITE');
  note('refreshed', { callId: entry.callId });
  return { refreshed: true };
}

function candidate(report) {
  if (!report) {
    return null;
  }
  return {
    type: report.candidateType,
    address: report.address ?? report.ip ?? null,
    port: report.port,
    protocol: report.protocol,
    relayProtocol: report.relayProtocol ?? null,
  };
}

async function stats() {
  const entry = state.session;
  if (!entry || !entry.session.connection) {
    throw new Error('no call to read statistics from');
  }
  const pc = entry.session.connection;
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  const all = [...byId.values()];
  const transport = all.find((s) => s.type === 'transport') ?? null;
  const pair = transport ? byId.get(transport.selectedCandidatePairId) : null;
  const inbound = all.find((s) => s.type === 'inbound-rtp' && s.kind === 'audio');
  const outbound = all.find((s) => s.type === 'outbound-rtp' && s.kind === 'audio');
  const codec = inbound ? byId.get(inbound.codecId) : null;
  return {
    callId: entry.callId,
    callState: entry.state,
    dtlsState: transport ? transport.dtlsState : null,
    srtpCipher: transport ? transport.srtpCipher ?? null : null,
    tlsVersion: transport ? transport.tlsVersion ?? null : null,
    iceState: transport ? transport.iceState ?? null : null,
    local: pair ? candidate(byId.get(pair.localCandidateId)) : null,
    remote: pair ? candidate(byId.get(pair.remoteCandidateId)) : null,
    packetsReceived: inbound ? inbound.packetsReceived : 0,
    packetsSent: outbound ? outbound.packetsSent : 0,
    bundlePolicy: pc.getConfiguration().bundlePolicy,
    codec: codec ? codec.mimeType : null,
    localSdp: pc.localDescription ? pc.localDescription.sdp : null,
    remoteSdp: pc.remoteDescription ? pc.remoteDescription.sdp : null,
  };
}

async function hangup(timeoutMs) {
  const entry = state.session;
  if (!entry) {
    throw new Error('no call to hang up');
  }
  if (entry.state !== 'ended' && entry.state !== 'failed') {
    entry.session.terminate();
  }
  const cause = await withTimeout(entry.ended, timeoutMs, 'hanging up');
  setStatus('idle');
  return { cause };
}

async function stop(timeoutMs) {
  const ua = state.ua;
  if (!ua) {
    return { stopped: true };
  }
  const gone = new Promise((resolve) => {
    ua.on('unregistered', resolve);
    ua.on('disconnected', resolve);
  });
  ua.stop();
  await withTimeout(gone, timeoutMs, 'unregistering').catch(() => {});
  state.ua = null;
  return { stopped: true };
}

function events() {
  return state.events;
}

window.voipctlProbe = { configure, register, call, waitIncoming, refresh, stats, hangup, stop, events };
setStatus('ready');
