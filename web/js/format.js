// How numbers, times and states read on the page.
import { h } from "./dom.js";

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const shortTime = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export const STATUS_LABELS = {
  running: "Running",
  waiting: "Waiting for an answer",
  delivered: "Pull request open",
  fixed: "Merged",
  merged: "Merged",
  deployed: "Deployed",
  verified: "Fix verified",
  recurred: "Recurred after the fix",
  finished: "Finished",
  failed: "Failed",
  parked: "Parked",
  blocked: "Blocked",
  rejected: "Closed unmerged",
};

export const CHANNEL_LABELS = {
  web: "the live view",
  slack: "Slack",
  linear: "Linear",
  mcp: "MCP",
  api: "the API",
  cli: "the command line",
  github: "GitHub",
  signal: "the signal",
};

export function statusLabel(status) {
  return STATUS_LABELS[status] || (status ? status[0].toUpperCase() + status.slice(1) : "Unknown");
}

export function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, statusLabel(status));
}

/** A <time> with the absolute date as its text or title. */
export function time(iso, { relative = false, short = false } = {}) {
  if (!iso) return h("span", {}, "—");
  const d = new Date(iso);
  const absolute = dateTime.format(d);
  const text = relative ? ago(d) : short ? shortTime.format(d) : absolute;
  return h("time", { datetime: d.toISOString(), title: absolute }, text);
}

export function ago(date, now = Date.now()) {
  const s = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (s < 45) return "just now";
  if (s < 90) return "a minute ago";
  if (s < 3600) return `${Math.round(s / 60)} minutes ago`;
  if (s < 5400) return "an hour ago";
  if (s < 86400) return `${Math.round(s / 3600)} hours ago`;
  return dateTime.format(date);
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function count(n) {
  return integer.format(n || 0);
}

export function usd(value) {
  const v = value || 0;
  if (v > 0 && v < 0.0001) return "< $0.0001";
  const digits = v === 0 ? 2 : v < 0.01 ? 4 : v < 1 ? 3 : 2;
  return new Intl.NumberFormat(undefined, {
    style: "currency", currency: "USD", minimumFractionDigits: digits, maximumFractionDigits: digits,
  }).format(v);
}

export function plural(n, one, many) {
  return `${count(n)} ${n === 1 ? one : many || `${one}s`}`;
}

export function serviceLabel(signal) {
  if (!signal || !signal.source) return "";
  return signal.kind === "alarm" ? `alarm ${signal.source}` : signal.source;
}
