/* The story browser (clusterer/browser.py inlines it into the page, beside the
   result as JSON). Plain DOM, no library. Lazy so that 200,000 items stay usable:
   a page of stories at a time, a story's members only when it is opened, the map
   drawn on a canvas. Every text from the result goes in through textContent. */
"use strict";
(() => {
  const started = performance.now();
  const D = JSON.parse(document.getElementById("result-data").textContent);
  const parsed = performance.now();
  const I = D.items, S = D.stories, G = D.groups, LANGS = D.langs, E = D.events || [];
  const N = I.id.length;
  const PAGE = 50;           // stories or noise items a page
  const SHOWN = 100;         // members of a section shown before "show more"
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#17becf", "#bcbd22", "#393b79", "#ad494a", "#637939"];
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  const state = {lang: -1, from: null, to: null, text: "", sort: "size", view: "stories",
                 page: 0, teaserPage: 0, strayPage: 0, selected: -1,
                 list: [], teasers: [], strays: [], on: new Uint8Array(S.length)};
  const NOISE = [];
  for (let i = 0; i < N; i++) if (I.story[i] < 0) NOISE.push(i);
  const isTeaser = (i) => I.kind.charCodeAt(i) === 116;  // "t"

  // ---- helpers -------------------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  const fmt = (n) => n.toLocaleString("en");
  const plural = (n, one, many) => fmt(n) + " " + (n === 1 ? one : (many || one + "s"));
  const dayStr = (d) => new Date(d * 86400000).toISOString().slice(0, 10);
  const spanStr = (a, b) => a === null ? "no date" : (a === b ? dayStr(a) : dayStr(a) + " – " + dayStr(b));
  const langNames = (codes) => codes.map((c) => LANGS[c]).join(", ");
  const colour = (k) => PALETTE[k % PALETTE.length];
  const squash = (t) => t.split(/\s+/).filter(Boolean).join(" ");
  function parseDay(value) {
    if (!value) return null;
    const t = Date.parse(value + "T00:00:00Z");
    return isNaN(t) ? null : Math.floor(t / 86400000);
  }

  // ---- filters -------------------------------------------------------
  let HAY = null;  // lower-cased searchable text per item, built as searches need it
  function hay(i) {
    if (HAY === null) HAY = new Array(N);
    let h = HAY[i];
    if (h === undefined) h = HAY[i] = (I.title[i] + "\n" + I.id[i] + "\n" + I.snippet[i] + "\n" + I.url[i]).toLowerCase();
    return h;
  }
  function dateOk(a, b) {  // the span [a, b] meets the chosen range
    if (state.from === null && state.to === null) return true;
    if (a === null) return false;
    return (state.from === null || b >= state.from) && (state.to === null || a <= state.to);
  }
  function storyMatches(k) {
    const s = S[k];
    if (state.lang >= 0 && s.langs.indexOf(state.lang) < 0) return false;
    if (!dateOk(s.start, s.end)) return false;
    if (!state.text || s.title.toLowerCase().includes(state.text)) return true;
    for (const i of s.members) if (hay(i).includes(state.text)) return true;
    return false;
  }
  function itemMatches(i) {
    if (state.lang >= 0 && I.lang[i] !== state.lang) return false;
    if (!dateOk(I.day[i], I.day[i])) return false;
    return !state.text || hay(i).includes(state.text);
  }
  function byDate(key, dir) {
    return (a, b) => {
      const x = S[a][key], y = S[b][key];
      if (x === y) return a - b;
      if (x === null) return 1;
      if (y === null) return -1;
      return dir * (x - y) || a - b;
    };
  }
  const SORTS = {size: (a, b) => S[b].members.length - S[a].members.length || a - b,
                 newest: byDate("end", -1), oldest: byDate("start", 1)};

  function applyFilters() {
    const list = [];
    state.on.fill(0);
    for (let k = 0; k < S.length; k++) if (storyMatches(k)) { list.push(k); state.on[k] = 1; }
    list.sort(SORTS[state.sort]);
    state.list = list;
    state.teasers = [];
    state.strays = [];
    for (const i of NOISE) if (itemMatches(i)) (isTeaser(i) ? state.teasers : state.strays).push(i);
    state.page = state.teaserPage = state.strayPage = 0;
    renderStories();
    renderNoise();
    drawTimeline();
    drawMap();
  }

  // ---- lists ---------------------------------------------------------
  function pager(box, page, total, what, whats, go) {
    box.replaceChildren();
    const pages = Math.max(1, Math.ceil(total / PAGE));
    const prev = el("button", "prev", "‹ Previous");
    prev.disabled = page <= 0;
    prev.addEventListener("click", () => go(page - 1));
    const next = el("button", "next", "Next ›");
    next.disabled = page >= pages - 1;
    next.addEventListener("click", () => go(page + 1));
    const first = page * PAGE + 1, last = Math.min(total, (page + 1) * PAGE);
    const info = el("span", "page-info", total ? `${fmt(first)}–${fmt(last)} of ${plural(total, what, whats)}` : `no ${whats}`);
    box.append(prev, info, next);
  }

  function storyRow(k) {
    const s = S[k];
    const li = el("li", "story" + (k === state.selected ? " selected" : ""));
    li.dataset.story = s.id;
    li.tabIndex = 0;
    const swatch = el("span", "swatch");
    swatch.style.background = colour(k);
    li.append(swatch, el("span", "story-title", s.title || "(untitled)"));
    const kinds = plural(s.articles, "article") + (s.teasers ? ", " + plural(s.teasers, "teaser") : "");
    const bits = [`${plural(s.members.length, "member")} (${kinds})`,
                  langNames(s.langs), spanStr(s.start, s.end)];
    if ((s.events || []).length > 1) bits.push(plural(s.events.length, "event"));
    if (s.groups.length) bits.push(plural(s.groups.length, "duplicate group"));
    li.append(el("div", "story-meta", bits.join(" · ")));
    li.addEventListener("click", () => select(k));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") select(k); });
    return li;
  }

  function renderStories() {
    const box = $("story-list");
    const from = state.page * PAGE;
    box.replaceChildren(...state.list.slice(from, from + PAGE).map(storyRow));
    pager($("story-pager"), state.page, state.list.length, "story", "stories", (p) => { state.page = p; renderStories(); });
    $("tab-stories").textContent = `Stories (${fmt(state.list.length)})`;
  }

  function renderNoise() {
    const show = (listId, pagerId, items, page, what, go) => {
      $(listId).replaceChildren(...items.slice(page * PAGE, (page + 1) * PAGE).map((i) => itemCard(i)));
      pager($(pagerId), page, items.length, what, what + "s", go);
    };
    show("teaser-list", "teaser-pager", state.teasers, state.teaserPage, "teaser",
         (p) => { state.teaserPage = p; renderNoise(); });
    show("stray-list", "stray-pager", state.strays, state.strayPage, "stray",
         (p) => { state.strayPage = p; renderNoise(); });
    $("tab-noise").textContent = `Noise (${fmt(state.teasers.length + state.strays.length)})`;
  }

  function setView(view) {
    state.view = view;
    $("stories-view").hidden = view !== "stories";
    $("noise-view").hidden = view !== "noise";
    $("tab-stories").classList.toggle("active", view === "stories");
    $("tab-noise").classList.toggle("active", view === "noise");
  }

  // ---- a story opened ------------------------------------------------
  function itemCard(i, opts) {
    const canonical = opts && opts.canonical;
    const card = el("div", "item " + (isTeaser(i) ? "teaser" : "article") + (canonical ? " canonical" : ""));
    card.dataset.item = I.id[i];
    const head = el("div", "item-head");
    head.append(el("span", "lang", LANGS[I.lang[i]]), el("span", "date", I.date[i] || "no date"),
                el("span", "item-id", I.id[i]));
    if (isTeaser(i)) head.append(el("span", "badge", "teaser"));
    if (canonical) head.append(el("span", "badge keep", "canonical: the one to keep"));
    if (I.group[i] >= 0 && !(opts && opts.inGroup)) head.append(el("span", "badge", "duplicate group " + G[I.group[i]].id));
    card.append(head);
    const title = I.title[i];
    if (title) card.append(el("div", "item-title", title));
    let snippet = I.snippet[i];
    const t = squash(title);
    if (t && snippet.startsWith(t)) snippet = snippet.slice(t.length).trim();
    if (snippet) card.append(el("div", "snippet", snippet));
    const url = I.url[i];
    if (/^https?:\/\//i.test(url)) {
      const a = el("a", "url", url);
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      card.append(a);
    } else if (url) {
      card.append(el("div", "url", url));
    }
    return card;
  }

  function appendLimited(box, indices, make) {  // the first SHOWN, then more on demand
    let done = 0;
    const more = el("button", "more");
    const step = () => {
      const chunk = indices.slice(done, done + SHOWN);
      done += chunk.length;
      for (const i of chunk) box.insertBefore(make(i), more.parentNode === box ? more : null);
      more.textContent = `Show ${fmt(Math.min(SHOWN, indices.length - done))} more of ${fmt(indices.length - done)}`;
      if (done >= indices.length) more.remove();
    };
    more.addEventListener("click", step);
    box.append(more);
    step();
  }

  function languageTitles(s) {  // one title a language: its earliest article's, else any member's
    const best = new Map();
    for (const i of s.members) {
      const key = [isTeaser(i) ? 1 : 0, I.title[i] ? 0 : 1, I.day[i] === null ? Infinity : I.day[i], I.id[i]];
      const cur = best.get(I.lang[i]);
      if (!cur || compareKeys(key, cur.key) < 0) best.set(I.lang[i], {key, i});
    }
    return s.langs.filter((c) => best.has(c)).map((c) => [c, best.get(c).i]);
  }
  function compareKeys(a, b) {
    for (let n = 0; n < a.length; n++) if (a[n] !== b[n]) return a[n] < b[n] ? -1 : 1;
    return 0;
  }

  const EVIDENCE = [["cosine", "cosine (centred)"], ["overlap", "word pairs (Jaccard)"],
                    ["containment", "containment"], ["aligned_sentences", "aligned sentences"],
                    ["aligned_share", "aligned share"], ["figures_in_common", "figures in common"],
                    ["names_in_common", "names in common"]];
  const nameOf = (x) => typeof x === "number" ? I.id[x] : String(x);

  function evidenceTable(g) {
    const table = el("table", "evidence");
    const head = el("tr");
    for (const h of ["pair", "languages"].concat(EVIDENCE.map((e) => e[1]))) head.append(el("th", "", h));
    table.append(head);
    for (const e of g.evidence) {
      const row = el("tr");
      const pair = el("td", "pair");
      pair.append(el("div", "item-id", nameOf(e.a)), el("div", "item-id", "~ " + nameOf(e.b)));
      row.append(pair, el("td", "", e.same_language ? "same" : "different"));
      for (const [key] of EVIDENCE) row.append(el("td", "num", key in e ? String(e[key]) : "–"));
      table.append(row);
    }
    return table;
  }

  function groupBox(gi) {
    const g = G[gi];
    const box = el("div", "group");
    box.dataset.group = g.id;
    box.append(el("div", "group-head", `Duplicate group ${g.id} · ${langNames(g.langs)} · ${plural(g.members.length, "member")}`));
    const members = el("div", "members");
    appendLimited(members, g.members, (i) => itemCard(i, {canonical: i === g.canonical, inGroup: true}));
    box.append(members);
    if (g.evidence.length) {
      const scroll = el("div", "scroll");
      scroll.append(evidenceTable(g));
      box.append(el("div", "caption", "The pairs that made the group, and their evidence:"), scroll);
    }
    return box;
  }

  function section(box, heading, indices, make) {
    box.append(el("h4", "", `${heading} (${fmt(indices.length)})`));
    if (!indices.length) return;
    const list = el("div", "section");
    list.dataset.section = heading.toLowerCase();
    box.append(list);
    appendLimited(list, indices, make);
  }

  function renderDetail() {
    const box = $("detail");
    box.replaceChildren();
    delete box.dataset.story;
    const k = state.selected;
    if (k < 0) {
      box.append(el("p", "hint", "Choose a story in the list or on the map to see its duplicate groups, articles and teasers."));
      return;
    }
    const s = S[k];
    box.dataset.story = s.id;
    box.append(el("h2", "", s.title || "(untitled)"));
    box.append(el("div", "meta", [`story ${s.id}`, plural(s.articles, "article"), plural(s.teasers, "teaser"),
                                   plural((s.events || []).length, "event"), langNames(s.langs),
                                   spanStr(s.start, s.end)].join(" · ")));
    if ((s.keywords || []).length) box.append(el("div", "keywords", s.keywords.join(" · ")));
    if (s.langs.length > 1) {
      box.append(el("h4", "", "Title in each language"));
      const table = el("table", "titles");
      for (const [c, i] of languageTitles(s)) {
        const row = el("tr");
        row.append(el("td", "lang", LANGS[c]), el("td", "", I.title[i] || I.snippet[i].slice(0, 100)));
        table.append(row);
      }
      box.append(table);
    }
    const events = s.events || [];
    if (events.length) {  // the story's events in time order, each with its groups and other articles
      box.append(el("h4", "", `Events (${fmt(events.length)})`));
      const list = el("div", "events");
      box.append(list);
      for (const ek of events) list.append(eventBox(E[ek]));
      const inEvent = new Set(events.flatMap((ek) => E[ek].members));
      const rest = s.members.filter((i) => !isTeaser(i) && !inEvent.has(i));
      if (rest.length) section(box, "Other articles", rest, (i) => itemCard(i));
    } else {  // a result written before events
      groupsAndOthers(box, s.groups, s.members.filter((i) => !isTeaser(i) && I.group[i] < 0));
    }
    section(box, "Teasers", s.members.filter(isTeaser), (i) => itemCard(i));
  }

  function groupsAndOthers(box, groupIndices, others) {
    box.append(el("h4", "", `Duplicate groups (${fmt(groupIndices.length)})`));
    const groups = el("div", "section");
    groups.dataset.section = "duplicate groups";
    box.append(groups);
    appendLimited(groups, groupIndices, groupBox);
    section(box, "Other articles", others, (i) => itemCard(i));
  }

  function eventBox(e) {
    const box = el("div", "event");
    box.dataset.event = e.id;
    box.append(el("div", "event-head", [`Event ${e.id}`, spanStr(e.start, e.end), langNames(e.langs),
                                        plural(e.members.length, "article")].join(" · ")));
    if (e.title) box.append(el("div", "event-title", e.title));
    if ((e.keywords || []).length) box.append(el("div", "keywords", e.keywords.join(" · ")));
    const others = e.members.filter((i) => I.group[i] < 0);
    if (e.groups.length) groupsAndOthers(box, e.groups, others);
    else section(box, "Articles", others, (i) => itemCard(i));
    return box;
  }

  function select(k) {
    state.selected = k;
    setView("stories");
    for (const li of document.querySelectorAll("li.story.selected")) li.classList.remove("selected");
    const row = k >= 0 ? document.querySelector(`li.story[data-story="${CSS.escape(S[k].id)}"]`) : null;
    if (row) row.classList.add("selected");
    renderDetail();
    drawTimeline();
    drawMap();
  }

  // ---- timeline ------------------------------------------------------
  const T = (() => {  // buckets over every story's dates, fixed whatever the filters
    let lo = Infinity, hi = -Infinity;
    for (const s of S) if (s.start !== null) { lo = Math.min(lo, s.start); hi = Math.max(hi, s.end); }
    if (lo === Infinity) return null;
    const steps = [[1, "day"], [7, "week"], [14, "fortnight"], [30, "month"], [91, "quarter"], [365, "year"]];
    let [step, name] = steps[steps.length - 1];
    for (const [d, n] of steps) if ((hi - lo + 1) / d <= 120) { step = d; name = n; break; }
    return {lo, hi, step, name, n: Math.floor((hi - lo) / step) + 1};
  })();

  function svg(tag, attrs, parent) {
    const e = document.createElementNS(SVG, tag);
    for (const key in attrs) e.setAttribute(key, attrs[key]);
    if (parent) parent.append(e);
    return e;
  }

  function drawTimeline() {
    const box = $("timeline");
    box.replaceChildren();
    box.style.display = T === null ? "none" : "";
    if (T === null) {
      $("timeline-caption").textContent = "No dates in this result.";
      return;
    }
    $("timeline-caption").textContent = `Stories under way each ${T.name} (of the stories listed); click a bar to keep its dates.`;
    const counts = new Int32Array(T.n + 1);
    for (const k of state.list) {
      const s = S[k];
      if (s.start === null) continue;
      counts[Math.floor((s.start - T.lo) / T.step)] += 1;
      counts[Math.floor((s.end - T.lo) / T.step) + 1] -= 1;
    }
    let run = 0, top = 1;
    for (let j = 0; j < T.n; j++) { run += counts[j]; counts[j] = run; top = Math.max(top, run); }
    const W = box.clientWidth || 600, H = box.clientHeight || 150, left = 34, bottom = 18, right = 6;
    box.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const bw = (W - left - right) / T.n, scale = (H - bottom - 6) / top;
    const x = (day) => left + (day - T.lo) / T.step * bw;
    if (state.selected >= 0 && S[state.selected].start !== null) {
      const s = S[state.selected];
      svg("rect", {class: "band", x: x(s.start), y: 0, width: Math.max(2, x(s.end + T.step) - x(s.start)), height: H - bottom}, box);
    }
    for (let j = 0; j < T.n; j++) {
      if (!counts[j]) continue;
      const h = counts[j] * scale;
      const a = T.lo + j * T.step, b = a + T.step - 1;
      const bar = svg("rect", {class: "bar", x: left + j * bw + 0.5, y: H - bottom - h,
                               width: Math.max(1, bw - 1), height: h}, box);
      svg("title", {}, bar).textContent = `${spanStr(a, b)}: ${plural(counts[j], "story", "stories")}`;
      bar.addEventListener("click", () => setDates(a, b));
    }
    svg("line", {x1: left, x2: W - right, y1: H - bottom + 0.5, y2: H - bottom + 0.5, stroke: "#99a"}, box);
    const label = (text, attrs) => { svg("text", attrs, box).textContent = text; };
    label(dayStr(T.lo), {x: left, y: H - 4});
    label(dayStr(T.hi), {x: W - right, y: H - 4, "text-anchor": "end"});
    label(fmt(top), {x: left - 4, y: 14, "text-anchor": "end"});
    label("0", {x: left - 4, y: H - bottom, "text-anchor": "end"});
  }

  // ---- map -----------------------------------------------------------
  const B = (() => {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < N; i++) {
      const x = I.x[i], y = I.y[i];
      if (x === null || y === null) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    return x0 === Infinity ? null : {x0, x1, y0, y1};
  })();
  const PAD = 8;
  function projection(w, h) {
    const sx = (w - 2 * PAD) / ((B.x1 - B.x0) || 1), sy = (h - 2 * PAD) / ((B.y1 - B.y0) || 1);
    return [(x) => PAD + (x - B.x0) * sx, (y) => h - PAD - (y - B.y0) * sy];
  }

  function drawMap() {
    const canvas = $("map");
    const w = canvas.clientWidth || 400, h = canvas.clientHeight || 150, r = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * r);
    canvas.height = Math.round(h * r);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(r, 0, 0, r, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    if (B === null) {
      ctx.fillStyle = "#778";
      ctx.fillText("No map coordinates in this result (written before the map existed).", 10, 20);
      return;
    }
    const [px, py] = projection(w, h);
    const size = N > 50000 ? 1.5 : N > 5000 ? 2.5 : N > 500 ? 3.5 : 5, half = size / 2;
    const grey = new Path2D(), chosen = new Path2D(), paths = PALETTE.map(() => new Path2D());
    for (let i = 0; i < N; i++) {
      if (I.x[i] === null) continue;
      const k = I.story[i], x = px(I.x[i]), y = py(I.y[i]);
      if (k >= 0 && k === state.selected) chosen.rect(x - 3, y - 3, 6, 6);
      else if (k < 0 || !state.on[k]) grey.rect(x - half, y - half, size, size);
      else paths[k % PALETTE.length].rect(x - half, y - half, size, size);
    }
    ctx.fillStyle = "#d3d7dd";
    ctx.fill(grey);
    paths.forEach((p, c) => { ctx.fillStyle = PALETTE[c]; ctx.fill(p); });
    if (state.selected >= 0) {
      ctx.fillStyle = colour(state.selected);
      ctx.fill(chosen);
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 1;
      ctx.stroke(chosen);
    }
  }

  function mapClick(event) {
    if (B === null) return;
    const canvas = $("map"), rect = canvas.getBoundingClientRect();
    const [px, py] = projection(canvas.clientWidth, canvas.clientHeight);
    const cx = event.clientX - rect.left, cy = event.clientY - rect.top;
    let best = -1, bestD = 64;  // within 8 px
    for (let i = 0; i < N; i++) {
      if (I.x[i] === null) continue;
      const dx = px(I.x[i]) - cx, dy = py(I.y[i]) - cy, d = dx * dx + dy * dy;
      if (d < bestD || (d === bestD && I.story[i] >= 0)) { best = i; bestD = d; }
    }
    if (best < 0) return;
    if (I.story[best] >= 0) { select(I.story[best]); return; }
    setView("stories");
    const box = $("detail");
    box.replaceChildren(el("h2", "", "Noise: " + (isTeaser(best) ? "a teaser" : "a stray article")),
                        el("div", "meta", "in no story"), itemCard(best));
  }

  // ---- tonight: what a nightly run changed (`cluster update --html`) ---
  function renderTonight(C) {
    const at = new Map(S.map((s, k) => [s.id, k]));
    const storyLink = (id) => {  // a live story's id opens it; a gone one is only named
      if (!id) return el("span", "meta", "no story");
      const k = at.get(id);
      if (k === undefined) return el("span", "item-id", id);
      const b = el("button", "story-link", id);
      b.type = "button";
      b.dataset.story = id;
      b.title = S[k].title;
      b.addEventListener("click", () => { select(k); $("detail").scrollIntoView(); });
      return b;
    };
    const itemName = (x) => {  // a position in the result, or the id of an item it lacks
      const name = el("span", "item-id", nameOf(x));
      if (typeof x !== "number") return [name];
      const bits = [name, el("span", "lang", LANGS[I.lang[x]])];
      if (isTeaser(x)) bits.push(el("span", "badge", "teaser"));
      if (I.title[x]) bits.push(el("span", "change-title", I.title[x]));
      return bits;
    };
    const storyOf = (x) => typeof x === "number" && I.story[x] >= 0 ? S[I.story[x]].id : null;
    const row = (item, ...parts) => {
      const r = el("div", "change");
      if (item !== null) r.dataset.item = nameOf(item);
      r.append(...parts);
      return r;
    };
    const box = el("details", "panel");
    box.id = "tonight";
    box.open = true;
    box.append(el("summary", "", `Tonight: run ${C.run} (${C.kind})` + (C.finished ? ", finished " + C.finished : "")),
               el("div", "meta", C.line));
    if (!I.snippet.some(Boolean)) {
      box.append(el("div", "caption", "The state keeps no texts: items show their titles and links, not the opening of their text."));
    }
    const grid = el("div", "changes");
    const part = (heading, rows, make) => {
      if (!rows.length) return;
      const cell = el("div");
      section(cell, heading, rows, make);
      grid.append(cell);
    };
    part("New items", C.new_items, ([x, story, group]) =>
      row(x, ...itemName(x), " → ", storyLink(story), group ? " · " + group : ""));
    part("New duplicates", C.new_duplicates, ([x, canonical, group]) =>
      row(x, el("span", "item-id", nameOf(x)), " → ", el("span", "item-id", nameOf(canonical)),
          ` (${group}) `, storyLink(storyOf(canonical))));
    part("Stories created", C.stories_created, ([id, title, size]) =>
      row(null, storyLink(id), " ", el("span", "change-title", title || "(untitled)"), ` (${plural(size, "item")})`));
    part("Stories merged", C.stories_merged, ([into, merged]) =>
      row(null, merged.join(", ") + " → ", storyLink(into)));
    part("Deleted items", C.deleted_items, ([id, story, group]) =>
      row(id, el("span", "item-id", id), " was in ", storyLink(story), group ? " · " + group : ""));
    part("Kept, not deleted: their file could not be read tonight", C.kept_unread, (x) =>
      row(x, ...itemName(x), " → ", storyLink(storyOf(x))));
    if (!grid.childElementCount) grid.append(el("p", "hint", "Nothing changed tonight."));
    box.append(grid);
    document.querySelector("header").after(box);
  }

  // ---- controls ------------------------------------------------------
  function setDates(a, b) {
    $("f-from").value = a === null ? "" : dayStr(a);
    $("f-to").value = b === null ? "" : dayStr(b);
    readControls();
  }

  function readControls() {
    state.lang = Number($("f-lang").value);
    state.from = parseDay($("f-from").value);
    state.to = parseDay($("f-to").value);
    state.text = $("f-text").value.trim().toLowerCase();
    state.sort = $("f-sort").value;
    applyFilters();
  }

  function setup() {
    let teasers = 0;
    for (let i = 0; i < N; i++) if (isTeaser(i)) teasers++;
    const stray = NOISE.filter((i) => !isTeaser(i)).length;
    $("summary").textContent = [`${plural(N, "item")} (${fmt(N - teasers)} articles, ${fmt(teasers)} teasers)`,
                                plural(S.length, "story", "stories"), plural(G.length, "duplicate group"),
                                `${fmt(NOISE.length)} noise (${fmt(NOISE.length - stray)} teasers, ${fmt(stray)} strays)`,
                                D.model ? "model " + D.model : ""].filter(Boolean).join(" · ");
    const perLang = new Int32Array(LANGS.length);
    for (let i = 0; i < N; i++) perLang[I.lang[i]]++;
    const langSelect = $("f-lang");
    langSelect.append(new Option("all languages", "-1"));
    LANGS.map((name, c) => [name, c]).filter(([, c]) => perLang[c])
      .forEach(([name, c]) => langSelect.append(new Option(`${name} (${fmt(perLang[c])})`, String(c))));
    if (T !== null) {
      for (const id of ["f-from", "f-to"]) { $(id).min = dayStr(T.lo); $(id).max = dayStr(T.hi); }
    }
    for (const id of ["f-lang", "f-from", "f-to", "f-sort", "f-text"]) $(id).addEventListener("change", readControls);
    let pending = 0;
    $("f-text").addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(readControls, 200); });
    $("f-clear").addEventListener("click", () => {
      $("f-lang").value = "-1";
      $("f-text").value = "";
      setDates(null, null);
    });
    $("tab-stories").addEventListener("click", () => setView("stories"));
    $("tab-noise").addEventListener("click", () => setView("noise"));
    $("map").addEventListener("click", mapClick);
    let resizing = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => { drawMap(); drawTimeline(); }, 150);
    });
    $("map-caption").textContent = B === null ? "" :
      "Items on the first two principal components of their language-centred embeddings; colour: story, grey: noise or filtered out. Click a point to open its story.";
  }

  setup();
  if (D.changes) renderTonight(D.changes);
  setView("stories");
  readControls();
  renderDetail();
  const done = performance.now();
  window.storyBrowser = {parseMs: parsed - started, renderMs: done - parsed, readyMs: done,
                         items: N, stories: S.length,
                         project: (x, y) => {  // map coordinates -> canvas pixels
                           const c = $("map"), [px, py] = projection(c.clientWidth, c.clientHeight);
                           return [px(x), py(y)];
                         }};
  document.documentElement.dataset.ready = "1";
})();
