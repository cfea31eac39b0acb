/* The review screen: keyboard shortcuts, evidence emphasis, add-by-selection,
 * selection of findings for bulk decisions.
 *
 * Keys (none fires while typing in a field):
 *   j / k      next / previous finding          p  provenance
 *   a          approve; on a flagged finding (or one whose evidence is not in the
 *              report) it only opens the panel that says what is wrong, and
 *              Enter on that panel approves: a never approves a flagged finding
 *   1 … 7      reject with that reason (the list on screen); r opens the reasons
 *   e edit     u undo / remove     c change a decided finding
 *   x          select for bulk (X: the range from the last one); with a
 *              selection, a and the number keys act on the selection
 *   n          add a finding from the selected text     t patient timeline
 *   Escape     close open panels, then clear the selection
 * Hovering or focusing a finding (or a grid cell) emphasises its evidence span.
 *
 * Offsets sent to the server are Unicode code points into the report text,
 * counted with the string iterator (JavaScript strings are UTF-16). The report
 * text is made of <span class="seg"> elements whose text nodes are exact copies
 * of the original, and it is only ever read with textContent.
 */
(function () {
  "use strict";

  const state = { focus: null, selection: null, lastToggled: null };
  if (window.htmx) htmx.config.defaultSettleDelay = 0;

  function $(id) { return document.getElementById(id); }
  function main() { return $("review-main"); }
  function findings() { return Array.from(document.querySelectorAll("#finding-panel .finding")); }
  function codePoints(s) { let n = 0; for (const _ of s) n++; return n; }
  function editable() { return main() && main().dataset.editable === "1"; }

  function emphasise(start, end) {
    document.querySelectorAll("#report-text .seg.ev-focus").forEach((el) => el.classList.remove("ev-focus"));
    if (start === null || start === undefined || start === "") return;
    const s = Number(start), e = Number(end);
    let first = null;
    document.querySelectorAll("#report-text .seg").forEach((el) => {
      if (Number(el.dataset.start) >= s && Number(el.dataset.end) <= e) {
        el.classList.add("ev-focus");
        if (!first) first = el;
      }
    });
    return first;
  }

  function focusFinding(el, scroll) {
    findings().forEach((f) => f.classList.remove("focus"));
    if (!el) return;
    el.classList.add("focus");
    state.focus = el.dataset.id;
    if (scroll) el.focus({ preventScroll: false });
    const first = emphasise(el.dataset.evStart, el.dataset.evEnd);
    if (first && scroll) first.scrollIntoView({ block: "nearest" });
  }

  function current() {
    return findings().find((f) => f.dataset.id === state.focus) || null;
  }

  function move(step) {
    const all = findings();
    if (!all.length) return;
    const at = all.indexOf(current());
    const next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    focusFinding(all[next], true);
  }

  // Open a <details> of the current finding (and the "Change" panel around it).
  function openDetails(selector, focusSel) {
    const f = current();
    const d = f && f.querySelector(selector);
    if (!d) return null;
    for (let p = d; p && p !== f; p = p.parentElement) if (p.tagName === "DETAILS") p.open = true;
    const field = d.querySelector(focusSel || "select, input:not([type=hidden])");
    if (field && !field.disabled) field.focus();
    return d;
  }

  // -- text selection: evidence for a new or an evidence-less finding ----------

  // Code-point offsets of the current selection inside #report-text, or null.
  function selectedSpan() {
    const root = $("report-text");
    const sel = window.getSelection();
    if (!root || !sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    const range = sel.getRangeAt(0);
    if (!root.contains(range.startContainer) || !root.contains(range.endContainer)) return null;
    const before = document.createRange();
    before.setStart(root, 0);
    before.setEnd(range.startContainer, range.startOffset);
    const start = codePoints(before.toString());
    const text = range.toString();
    if (!text.trim()) return null;
    return { start: start, end: start + codePoints(text), text: text };
  }

  // Every form that takes a span (the approve panel of a finding without
  // evidence, its edit form) gets the selection; their buttons wake up.
  function applySelection() {
    const span = state.selection;
    document.querySelectorAll("#finding-panel .sel-start").forEach((el) => { el.value = span ? span.start : ""; });
    document.querySelectorAll("#finding-panel .sel-end").forEach((el) => { el.value = span ? span.end : ""; });
    document.querySelectorAll("#finding-panel .sel-label").forEach((el) => {
      el.textContent = span ? "Evidence: “" + span.text + "”" : "No text selected.";
    });
    document.querySelectorAll("#finding-panel [data-needs-span]").forEach((b) => { b.disabled = !span; });
  }

  function rememberSelection() {
    const span = selectedSpan();
    if (!span) return;
    state.selection = span;
    applySelection();
    const form = $("add-form");
    if (!form || !window.htmx) return;
    // The server reads the span with the modality's lexicon and pre-fills the key.
    $("add-selection").textContent = "Selected: “" + span.text + "” (reading…)";
    const url = form.dataset.prefillUrl + "?start=" + span.start + "&end=" + span.end;
    // The source is the report text, not the form: htmx would add the form's own
    // (empty) start/end to a GET whose source is the form.
    htmx.ajax("GET", url, { source: $("report-text"), target: "#add-form", swap: "outerHTML" });
  }

  function addFromSelection() {
    const span = selectedSpan();
    if (span && (!state.selection || span.start !== state.selection.start || span.end !== state.selection.end)) {
      rememberSelection();
    }
    const key = $("add-key");
    if (key) key.focus();
  }

  // -- bulk selection ----------------------------------------------------------

  function boxes() { return Array.from(document.querySelectorAll("#finding-panel .f-select")); }
  function chosen() { return boxes().filter((b) => b.checked); }

  function showBulk() {
    const form = $("bulk-form");
    if (!form) return;
    const n = chosen().length;
    form.hidden = n === 0;
    $("bulk-count").textContent = n + " selected";
    boxes().forEach((b) => b.closest(".finding").classList.toggle("selected", b.checked));
  }

  function toggle(f, range) {
    const box = f && f.querySelector(".f-select");
    if (!box) return;
    const all = findings();
    const last = all.findIndex((x) => x.dataset.id === state.lastToggled);
    if (range && last >= 0) {
      const at = all.indexOf(f);
      const [lo, hi] = at < last ? [at, last] : [last, at];
      all.slice(lo, hi + 1).forEach((x) => { const b = x.querySelector(".f-select"); if (b) b.checked = true; });
    } else {
      box.checked = !box.checked;
    }
    state.lastToggled = f.dataset.id;
    showBulk();
  }

  function bulk(action, reason) {
    const form = $("bulk-form");
    if (!form || !chosen().length) return;
    form.elements.action.value = action;
    form.elements.reason_code.value = reason || "";
    form.requestSubmit();
  }

  function reasonCode(n) {
    const li = document.querySelectorAll("#rv-reasons li")[n - 1];
    return li ? li.dataset.reason : null;
  }

  // -- decisions by key --------------------------------------------------------

  function approve() {
    if (chosen().length) return bulk("approve");
    const f = current();
    if (!f) return;
    const plain = f.querySelector(".f-actions > form .act-approve");
    if (plain) { plain.click(); return; }
    // Flagged: open the panel that names what is wrong; only its own button approves.
    const panel = openDetails(".f-actions > form .act-confirm", ".act-approve-confirm");
    if (panel) { panel.scrollIntoView({ block: "nearest" }); return; }
    // A rejected finding: approving it is a change of mind, made in its Change panel.
    if (f.querySelector(".act-change form[hx-post] input[value=approve]")) openDetails(".act-change", "summary");
  }

  function reject(n) {
    const code = reasonCode(n);
    if (!code) return;
    if (chosen().length) {
      if (code === "other") { alertInPage("Reject the selection with a listed reason, or one by one with a comment."); return; }
      return bulk("reject", code);
    }
    const f = current();
    const b = f && f.querySelector(".act-reject .reason-btn[data-n='" + n + "']");
    if (!b) return;
    if (b.dataset.needsComment) { openDetails(".act-reject", "input[name=comment]"); return; }
    b.click();
  }

  function alertInPage(text) {
    let p = $("rv-error");
    if (!p) {
      p = document.createElement("p");
      p.id = "rv-error"; p.className = "error rv-error"; p.setAttribute("role", "alert");
      main().querySelector(".rv-head").after(p);
    }
    p.textContent = text;
  }

  function openConfirm() {
    const f = current();
    const d = f && f.querySelector("details.act-confirm[open]");
    return d ? d.querySelector(".act-approve-confirm") : null;
  }

  function onKey(ev) {
    const t = ev.target;
    const typing = t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA");
    if (ev.key === "Escape") {
      const open = document.querySelectorAll("#review-main details[open]");
      if (open.length) open.forEach((d) => { d.open = false; });
      else if (chosen().length) { boxes().forEach((b) => { b.checked = false; }); showBulk(); }
      const f = current();
      if (f) f.focus();
      return;
    }
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const can = editable();
    if (ev.key === "Enter") {
      // The second step of a flagged approval, also after selecting its evidence.
      const b = can && t.tagName !== "BUTTON" && t.tagName !== "SUMMARY" ? openConfirm() : null;
      if (!b || b.disabled) return;
      b.click();
      ev.preventDefault();
      return;
    }
    if (/^[1-9]$/.test(ev.key)) {
      if (can) reject(Number(ev.key));
      ev.preventDefault();
      return;
    }
    switch (ev.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "a": if (can) approve(); break;
      case "r": if (can) openDetails(".act-reject", ".reason-btn"); break;
      case "e": if (can) openDetails(".act-edit", "select"); break;
      case "c": if (can) openDetails(".act-change", "summary"); break;
      case "u": { const f = current(); const b = f && f.querySelector(".act-undo"); if (can && b) b.click(); break; }
      case "x": if (can) toggle(current(), false); break;
      case "X": if (can) toggle(current(), true); break;
      case "p": openDetails(".provenance", "summary"); break;
      case "n": if (can) addFromSelection(); break;
      case "t": { const b = $("timeline-btn"); if (b) b.click(); break; }
      default: return;
    }
    ev.preventDefault();
  }

  function wire() {
    const root = main();
    if (!root) return;
    state.selection = null; // a swap replaced the text: the old selection is gone
    const wanted = root.dataset.focus || state.focus;
    const all = findings();
    const pending = all.find((f) => f.classList.contains("rv-f-pending"));
    // After a decision the next undecided finding has the focus, so a/j/k keep flowing.
    focusFinding(pending || all.find((f) => f.dataset.id === wanted) || all[0] || null, false);
    const text = $("report-text");
    if (text) text.addEventListener("mouseup", rememberSelection);
    showBulk();
  }

  document.addEventListener("click", (ev) => {
    if (!ev.target.closest) return;
    const box = ev.target.closest("#finding-panel .f-select");
    if (box) {
      // Shift-click selects the range from the last ticked one.
      const f = box.closest(".finding");
      if (ev.shiftKey && state.lastToggled) { ev.preventDefault(); toggle(f, true); } else { state.lastToggled = f.dataset.id; setTimeout(showBulk); }
      return;
    }
    const bulkButton = ev.target.closest("#bulk-form button");
    if (bulkButton) {
      if (bulkButton.classList.contains("bulk-approve")) bulk("approve");
      else if (bulkButton.classList.contains("bulk-reject")) bulk("reject", $("bulk-form").elements.bulk_reason.value);
      else { boxes().forEach((b) => { b.checked = false; }); showBulk(); }
      return;
    }
    // Grid cells post through one delegated handler (the grid is built server-side
    // without per-cell htmx attributes); htmx.ajax with the cell as source keeps
    // the CSRF header that <body hx-headers> provides. A selected span goes along:
    // the evidence of a lesion the grid adds.
    const cell = ev.target.closest("#grid .cell");
    if (!cell || cell.disabled || !window.htmx) return;
    const values = { lesion: cell.dataset.lesion, location: cell.dataset.location };
    if (cell.dataset.version) values.version = cell.dataset.version;
    if (state.selection) { values.start = state.selection.start; values.end = state.selection.end; }
    htmx.ajax("POST", $("grid").dataset.url, { source: cell, target: "#review-main", swap: "outerHTML", values: values });
  });

  document.addEventListener("keydown", onKey);
  document.addEventListener("mouseover", (ev) => {
    const cell = ev.target.closest && ev.target.closest(".rv-grid .cell, #finding-panel .finding");
    if (cell) emphasise(cell.dataset.evStart, cell.dataset.evEnd);
  });
  document.addEventListener("focusin", (ev) => {
    const f = ev.target.closest && ev.target.closest("#finding-panel .finding");
    if (f && f.dataset.id !== state.focus) focusFinding(f, false);
  });
  document.addEventListener("mouseout", (ev) => {
    const cell = ev.target.closest && ev.target.closest(".rv-grid .cell, #finding-panel .finding");
    if (cell) { const f = current(); emphasise(f && f.dataset.evStart, f && f.dataset.evEnd); }
  });
  document.addEventListener("DOMContentLoaded", wire);
  document.addEventListener("htmx:afterSwap", (ev) => { if (ev.detail.target && ev.detail.target.id === "review-main") wire(); });
  document.addEventListener("htmx:afterSettle", (ev) => {
    if (ev.detail.elt && ev.detail.elt.id === "review-main") wire();
  });

  window.RadReview = { selectedSpan: selectedSpan, focusFinding: focusFinding };
})();
