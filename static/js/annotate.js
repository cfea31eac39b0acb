/* The annotation workspace: text selection -> code-point offsets, keyboard
 * shortcuts, suggestions, pairing, hover highlighting.
 *
 * Offsets sent to the server are Unicode code points into the report text.
 * JavaScript strings are UTF-16, so lengths are counted with the string
 * iterator (one step per code point), never with .length. The report text is
 * made of <span class="seg"> elements whose text nodes are exact copies of the
 * original (the server escapes it and writes "\r" as "&#13;"), so the code
 * points before a selection boundary are those of a Range from the start of
 * #report-text to that boundary.
 *
 * Every change is a POST through htmx that swaps #workspace; state that must
 * survive a swap (focused mention, pairing source) lives here and is re-applied
 * after each swap. Report text is only ever read and written with textContent.
 *
 * Undo / redo: every change that can be undone answers with a token
 * (#workspace[data-undo-token]) for the server-side snapshot of what it changed.
 * The tokens of this page's changes are the undo stack; Ctrl+Z POSTs the top one
 * to undo/, whose answer carries the token that redoes it (the redo stack), and
 * the other way round. A new change empties the redo stack. The stacks live as
 * long as the page: undo is bounded to the report on screen.
 *
 * Selections that end on a Korean particle (우상엽|의) are trimmed to the word:
 * the server sends the particles' spans (ws-data "particles", from Kiwi).
 */
(function () {
  "use strict";

  const state = { focus: null, sugg: -1, pairing: null, pending: null };
  const history = { undo: [], redo: [], seen: new Set() };

  // No CSS transitions to wait for: let htmx wire swapped content at once, so a
  // click right after a save hits a live form.
  if (window.htmx) htmx.config.defaultSettleDelay = 0;

  function $(id) { return document.getElementById(id); }
  function workspace() { return $("workspace"); }
  function textRoot() { return $("report-text"); }
  function data() {
    const el = $("ws-data");
    return el ? JSON.parse(el.textContent) : null;
  }
  function editable() { const ws = workspace(); return ws && ws.dataset.editable === "1"; }
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }

  function post(path, values) {
    const ws = workspace();
    return htmx.ajax("POST", ws.dataset.urlBase + path, {
      source: ws, target: "#workspace", swap: "outerHTML", values: values,
      headers: { "X-CSRFToken": csrfToken() },
    });
  }

  /* -- offsets ---------------------------------------------------------------- */

  function codePoints(s) { let n = 0; for (const _ of s) n++; return n; }

  /* The DOM position (text node, UTF-16 offset) of a code-point offset in the report. */
  function pointAt(cp) {
    const walker = document.createTreeWalker(textRoot(), NodeFilter.SHOW_TEXT);
    let seen = 0;
    while (walker.nextNode()) {
      const node = walker.currentNode;
      const chars = Array.from(node.data);
      if (seen + chars.length >= cp) return [node, chars.slice(0, cp - seen).join("").length];
      seen += chars.length;
    }
    return null;
  }

  /* Trim a trailing Korean particle off a span that starts before it. */
  function snapToWord(span) {
    const d = data();
    for (const [a, b] of (d && d.particles) || []) {
      if (span.start < a && a < span.end && span.end <= b) {
        return { start: span.start, end: a, text: Array.from(span.text).slice(0, a - span.start).join(""), snapped: true };
      }
    }
    return span;
  }

  function offsetOf(node, offset) {
    const range = document.createRange();
    range.setStart(textRoot(), 0);
    range.setEnd(node, offset);
    return codePoints(range.toString());
  }

  /* The current selection inside the report as {start, end, text} in code
   * points, whitespace trimmed off both ends; null when there is none. */
  function selectedSpan() {
    const sel = window.getSelection();
    const root = textRoot();
    if (!root || !sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    const range = sel.getRangeAt(0);
    if (!root.contains(range.startContainer) || !root.contains(range.endContainer)) return null;
    const chars = Array.from(range.toString());
    const start = offsetOf(range.startContainer, range.startOffset);
    let a = 0, b = chars.length;
    while (a < b && /\s/u.test(chars[a])) a++;
    while (b > a && /\s/u.test(chars[b - 1])) b--;
    if (a === b) return null;
    return snapToWord({ start: start + a, end: start + b, text: chars.slice(a, b).join("") });
  }

  /* Show the trimmed selection, so what is highlighted is what will be labelled. */
  function showSnapped(span) {
    const from = pointAt(span.start), to = pointAt(span.end);
    if (!from || !to) return;
    const range = document.createRange();
    range.setStart(from[0], from[1]);
    range.setEnd(to[0], to[1]);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  /* -- hints ------------------------------------------------------------------- */

  function hint(message) {
    const el = $("selection-hint");
    if (el) el.textContent = message;
  }

  function showPending() {
    if (state.pairing) return;
    if (state.pending) {
      hint("Selected “" + state.pending.text + "” (" + state.pending.start + "–" + state.pending.end +
        "): press a key's number, click a key, or type / to search" +
        (state.focus ? "; e moves the focused mention here." : "."));
    } else {
      hint("Select text, then press a key's number or click a key. Click a dashed suggestion to pick it, then Enter or y accepts it.");
    }
  }

  /* -- highlighting ------------------------------------------------------------- */

  function segmentsOf(mentionId) {
    return Array.from(document.querySelectorAll("#report-text .seg[data-m]"))
      .filter((seg) => seg.dataset.m.split(" ").includes(String(mentionId)));
  }

  function clearClass(name) {
    document.querySelectorAll("." + name).forEach((el) => el.classList.remove(name));
  }

  function applyFocus() {
    clearClass("focus");
    const d = data();
    if (!d || (state.focus && !d.mentions.some((m) => m.id === state.focus))) state.focus = null;
    if (!state.focus) return;
    segmentsOf(state.focus).forEach((seg) => seg.classList.add("focus"));
    const row = $("mrow-" + state.focus);
    if (row) { row.classList.add("focus"); row.scrollIntoView({ block: "nearest" }); }
  }

  function applySuggestionFocus() {
    clearClass("sugg-focus");
    const button = $("accept-suggestion");
    if (button) button.hidden = state.sugg < 0;
    if (state.sugg < 0) return;
    const segs = Array.from(document.querySelectorAll("#report-text .seg[data-s]"))
      .filter((seg) => seg.dataset.s.split(" ").includes(String(state.sugg)));
    segs.forEach((seg) => seg.classList.add("sugg-focus"));
    if (segs.length) segs[0].scrollIntoView({ block: "nearest" });
    const s = suggestion(state.sugg);
    if (s) hint("Suggestion: “" + s.text + "” → " + s.key_name + ". Enter or y accepts it (negated if the rules read it so); j/k move.");
  }

  function applyPairing() {
    const ws = workspace();
    clearClass("pair-target");
    if (!ws) return;
    const source = state.pairing && mention(state.pairing);
    ws.classList.toggle("pairing", Boolean(source));
    if (!source) { state.pairing = null; return; }
    data().mentions.filter((m) => m.type === source.pairs_with)
      .forEach((m) => segmentsOf(m.id).forEach((seg) => seg.classList.add("pair-target")));
    hint("Pairing “" + source.text + "” (" + source.key_name + "): click its location/episode in the text (one pair). Esc to stop.");
  }

  function highlightPair(ids, on) {
    ids.filter(Boolean).forEach((id) => {
      segmentsOf(id).forEach((seg) => seg.classList.toggle("hl", on));
      const row = $("mrow-" + id);
      if (row) row.classList.toggle("hl", on);
    });
  }

  /* -- lookups -------------------------------------------------------------------- */

  function mention(id) { const d = data(); return d && d.mentions.find((m) => m.id === Number(id)); }
  function suggestion(i) { const d = data(); return d && d.suggestions.find((s) => s.i === Number(i)); }

  /* -- actions -------------------------------------------------------------------- */

  /* Label the selection with a key; with no selection, give the focused mention that key. */
  function assignKey(keyId) {
    if (!editable()) return;
    const span = state.pending || selectedSpan();
    if (!span && state.focus) {
      post("mentions/" + state.focus + "/", { field: "key", key: keyId });
      return;
    }
    if (!span) { hint("Select some report text first."); return; }
    state.pending = null;
    post("mentions/", { key: keyId, start: span.start, end: span.end, text: span.text });
  }

  /* Move the focused mention to the selected text (fix a boundary, keep its key and pairs). */
  function moveMention() {
    if (!editable() || !state.focus) { hint("Focus a mention first, then select its new text and press e."); return; }
    const span = state.pending || selectedSpan();
    if (!span) { hint("Select the mention's new text, then press e."); return; }
    state.pending = null;
    post("mentions/" + state.focus + "/", { field: "span", start: span.start, end: span.end, text: span.text });
  }

  function acceptSuggestion(i) {
    const s = suggestion(i);
    if (!s || !editable()) return;
    state.sugg = -1;
    post("mentions/", { key: s.key, start: s.start, end: s.end, suggestion: "1" });
  }

  function moveSuggestion(step) {
    const d = data();
    if (!d || !d.suggestions.length) return;
    const n = d.suggestions.length;
    state.sugg = state.sugg < 0 ? (step > 0 ? 0 : n - 1) : (state.sugg + step + n) % n;
    applySuggestionFocus();
  }

  function pairWith(targetId) {
    const source = mention(state.pairing), target = mention(targetId);
    if (!source || !target) return;
    if (target.type !== source.pairs_with) { hint("“" + target.text + "” cannot be paired with " + source.key_name + "."); return; }
    // One pair per p: the next click on a mention must not make a second, unintended one.
    state.pairing = null;
    applyPairing();
    post("relations/", { source: source.id, target: "m" + target.id });
  }

  /* -- undo / redo ---------------------------------------------------------------- */

  function historyStep(kind) {
    if (!editable()) return;
    const from = kind === "undo" ? history.undo : history.redo;
    const entry = from.pop();
    if (!entry) { hint(kind === "undo" ? "Nothing to undo in this report." : "Nothing to redo."); showHistory(); return; }
    state.pending = null; state.pairing = null; state.sugg = -1;
    post("undo/", { token: entry.token, kind: kind });
  }

  /* After a swap: file the answer's token on the stack it belongs to. */
  function recordHistory(ws) {
    const token = ws.dataset.undoToken;
    if (token && !history.seen.has(token)) {
      history.seen.add(token);
      const entry = { token: token, label: ws.dataset.undoLabel || "" };
      const kind = ws.dataset.undoKind || "do";
      if (kind === "undo") history.redo.push(entry);
      else {
        if (kind === "do") history.redo = [];
        history.undo.push(entry);
      }
      history.undo = history.undo.slice(-100);
    }
    showHistory();
  }

  function showHistory() {
    const top = (stack) => stack.length ? stack[stack.length - 1].label : "";
    [["undo-button", history.undo, "Undo"], ["redo-button", history.redo, "Redo"]].forEach(([id, stack, verb]) => {
      const button = $(id);
      if (!button) return;
      button.disabled = stack.length === 0;
      button.title = stack.length ? verb + ": " + top(stack) + (verb === "Undo" ? " (Ctrl+Z)" : " (Ctrl+Shift+Z)") : "Nothing to " + verb.toLowerCase();
    });
  }

  function focusMention(id) {
    state.focus = id ? Number(id) : null;
    state.sugg = -1;
    clearClass("sugg-focus");
    applyFocus();
    const m = state.focus && mention(state.focus);
    if (m) {
      hint("Focused “" + m.text + "” (" + m.key_name + "): n negated, u uncertain, Delete removes" +
        (m.pairs_with ? ", p pairs it" : "") + "; select new text and press e to move it.");
    }
  }

  function clearAll() {
    state.pending = null; state.pairing = null; state.sugg = -1;
    window.getSelection().removeAllRanges();
    focusMention(null);
    clearClass("sugg-focus");
    applyPairing();
    showPending();
  }

  /* -- events --------------------------------------------------------------------- */

  document.addEventListener("mouseup", (event) => {
    const root = textRoot();
    if (!root || !root.contains(event.target) || !editable()) return;
    const span = selectedSpan();
    if (span) {
      if (span.snapped) showSnapped(span);
      state.pending = span; showPending(); return;
    }
    const seg = event.target.closest(".seg");
    if (!seg) return;
    if (state.pairing && seg.dataset.m) { pairWith(seg.dataset.m.split(" ")[0]); return; }
    if (seg.dataset.m) {
      const ids = seg.dataset.m.split(" ").map(Number);
      const next = ids.includes(state.focus) ? ids[(ids.indexOf(state.focus) + 1) % ids.length] : ids[0];
      focusMention(next);
      return;
    }
    // A click picks a suggestion, never accepts it: the same click may be the start
    // of a double-click that selects a word. Enter, y or the Accept button accept.
    if (seg.dataset.s) { state.sugg = Number(seg.dataset.s.split(" ")[0]); applySuggestionFocus(); }
  });

  document.addEventListener("click", (event) => {
    const step = event.target.closest("[data-history]");
    if (step) { historyStep(step.dataset.history); return; }
    if (event.target.closest("#accept-suggestion")) { if (state.sugg >= 0) acceptSuggestion(state.sugg); return; }
    const key = event.target.closest("#key-list .key");
    if (key) { assignKey(key.dataset.key); return; }
    const row = event.target.closest(".mention-row");
    if (row && !event.target.closest("button, select, form")) focusMention(row.dataset.m);
  });

  document.addEventListener("mouseover", (event) => {
    const pair = event.target.closest("[data-pair]");
    if (pair) { highlightPair(pair.dataset.pair.split(" "), true); return; }
    const seg = event.target.closest("#report-text .seg[data-m]");
    if (seg) {
      const d = data();
      const ids = seg.dataset.m.split(" ").map(Number);
      (d ? d.relations : []).filter((r) => ids.includes(r.source) || ids.includes(r.target))
        .forEach((r) => highlightPair([r.source, r.target], true));
    }
  });
  document.addEventListener("mouseout", (event) => {
    if (event.target.closest("[data-pair], #report-text .seg[data-m]")) clearClass("hl");
  });

  // No preselected pair target: Pair stays disabled until one is chosen.
  document.addEventListener("change", (event) => {
    const select = event.target.closest(".pair-form select");
    if (select) select.form.querySelector("button[type=submit]").disabled = !select.value;
  });

  document.addEventListener("input", (event) => {
    if (event.target.id !== "key-search") return;
    const query = event.target.value.trim().toLowerCase();
    document.querySelectorAll("#key-list .key").forEach((button) => {
      button.hidden = query !== "" && !button.dataset.name.toLowerCase().includes(query);
    });
  });

  function keyFromShortcut(event) {
    const code = event.code + (event.shiftKey ? "+shift" : "");
    return document.querySelector('#key-list .key[data-code="' + code + '"]');
  }

  function goTo(which) {
    const url = workspace().dataset[which === "]" ? "urlNext" : "urlPrevious"];
    if (url) window.location.assign(url);
    else hint(which === "]" ? "This is the last report of your queue." : "This is the first report of your queue.");
  }

  document.addEventListener("keydown", (event) => {
    if (!workspace()) return;
    // Previous / next report work on a submitted (read-only) report too.
    if ((event.key === "[" || event.key === "]") && !event.ctrlKey && !event.metaKey && !event.altKey &&
        !event.target.closest("input, select, textarea")) {
      event.preventDefault();
      goTo(event.key);
      return;
    }
    if (!editable()) return;
    const inSearch = event.target.id === "key-search";
    if (inSearch) {
      if (event.key === "Enter") {
        event.preventDefault();
        const first = Array.from(document.querySelectorAll("#key-list .key")).find((b) => !b.hidden);
        if (first) assignKey(first.dataset.key);
      } else if (event.key === "Escape") {
        event.target.value = ""; event.target.dispatchEvent(new Event("input", { bubbles: true })); event.target.blur();
      }
      return;
    }
    if (event.target.closest("input, select, textarea")) return;
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (event.code === "KeyZ" || event.code === "KeyY")) {
      event.preventDefault();
      historyStep(event.code === "KeyY" || event.shiftKey ? "redo" : "undo");
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (/^(Digit\d|Minus|Equal)$/.test(event.code)) {
      const button = keyFromShortcut(event);
      if (button) { event.preventDefault(); assignKey(button.dataset.key); }
      return;
    }
    const focused = state.focus && mention(state.focus);
    switch (event.key) {
      case "/": event.preventDefault(); $("key-search").focus(); break;
      case "j": moveSuggestion(1); break;
      case "k": moveSuggestion(-1); break;
      case "a": case "y": case "Enter":
        if (state.sugg >= 0 && !event.target.closest("button, a")) { event.preventDefault(); acceptSuggestion(state.sugg); }
        break;
      case "e": moveMention(); break;
      case "n": if (focused) post("mentions/" + focused.id + "/", { field: "negated" }); break;
      case "u": if (focused) post("mentions/" + focused.id + "/", { field: "uncertain" }); break;
      case "Delete": case "Backspace":
        if (focused) { event.preventDefault(); post("mentions/" + focused.id + "/delete/", {}); state.focus = null; }
        break;
      case "p":
        if (focused && focused.pairs_with) { state.pairing = focused.id; applyPairing(); }
        else if (focused) hint(focused.key_name + " takes no pairs.");
        break;
      case "s": {
        // Straight to the server, not through the button: right after a swap htmx
        // may not have wired the new form yet, and a native submit would reload.
        const form = $("submit-form");
        if (form) {
          event.preventDefault();
          const force = form.querySelector("input[name=force]");
          post("submit/", force ? { force: "1" } : {});
        }
        break;
      }
      case "Escape": clearAll(); break;
      default: break;
    }
  });

  /* After every swap of #workspace: re-apply focus, pairing and suggestion state. */
  function restore() {
    const ws = workspace();
    if (!ws) return;
    if (ws.dataset.focus) state.focus = Number(ws.dataset.focus);
    state.pending = null;
    recordHistory(ws);
    const toast = $("ws-toast");
    if (toast) setTimeout(() => toast.classList.add("faded"), 8000);
    const d = data();
    if (state.sugg >= 0 && (!d || state.sugg >= d.suggestions.length)) state.sugg = -1;
    applyFocus();
    applyPairing();
    if (!state.pairing) showPending();
  }

  /* Restore as soon as the new #workspace is in the document (afterSwap), not
   * only after htmx's settle delay: a key pressed right after a save must act
   * on the mention that save focused. */
  let restored = null;
  function restoreOnce() {
    const ws = workspace();
    if (ws && ws !== restored) { restored = ws; restore(); }
  }
  document.addEventListener("htmx:afterSwap", restoreOnce);
  // htmx settles by copying the old element's attributes onto the new one with
  // the same id (#workspace, #mrow-N), then restoring the new ones: that drops
  // the classes set above. Apply the focus and pairing classes again.
  document.addEventListener("htmx:afterSettle", () => {
    restoreOnce();
    applyFocus();
    applyPairing();
  });
  document.addEventListener("DOMContentLoaded", restoreOnce);

  // Exposed for tests and the browser console.
  window.RadAnnotate = { selectedSpan, codePoints, state, history };
})();
