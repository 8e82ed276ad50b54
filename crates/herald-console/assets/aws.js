// Calls to the console's API. S3, SNS and SQS calls go through the
// server's signing proxy (/console/api/s3, /sns, /sqs) with the real
// APIs' own requests and answers: the console does exactly what the
// signed-in user's keys allow through the AWS CLI.

export const session = { csrf: "", user: "", region: "" };

/** A failed call, with the API's error code. */
export class ApiError extends Error {
  constructor(code, message, status) {
    super(code ? `${code}: ${message}` : message);
    this.code = code;
    this.status = status;
  }
}

/** fetch() with the CSRF header; throws ApiError for any error answer.
 * A token refused because this browser signed in again in another tab is
 * refreshed once and the call retried. */
export async function call(path, opts = {}, retried = false) {
  const headers = Object.assign({ "x-herald-csrf": session.csrf }, opts.headers || {});
  const resp = await fetch("/console/api/" + path, Object.assign({}, opts, { headers, credentials: "same-origin" }));
  if (resp.status === 401 && path !== "session") {
    window.dispatchEvent(new CustomEvent("herald-signed-out"));
  }
  if (!resp.ok) {
    const err = await errorOf(resp);
    if (err.code === "InvalidCsrfToken" && !retried && path !== "session") {
      const who = await fetch("/console/api/session", { credentials: "same-origin" });
      if (who.ok) {
        const w = await who.json();
        session.csrf = w.csrf;
        window.dispatchEvent(new CustomEvent("herald-session-changed", { detail: w }));
        return call(path, opts, true);
      }
    }
    throw err;
  }
  return resp;
}

async function errorOf(resp) {
  const text = await resp.text();
  try {
    const j = JSON.parse(text);
    if (j.error) return new ApiError(j.error.code, j.error.message, resp.status);
    if (j.__type) return new ApiError(j.__type.split("#").pop(), j.message || j.Message || "", resp.status);
  } catch (_) { /* not JSON */ }
  const doc = xml(text);
  if (doc) {
    const code = textOf(doc, "Code");
    let message = textOf(doc, "Message");
    if (code === "InvalidBucketName" && !message) {
      message = "a bucket name has 3 to 63 characters: lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit";
    }
    if (code) return new ApiError(code, message, resp.status);
  }
  return new ApiError("", `HTTP ${resp.status}`, resp.status);
}

export async function json(path, opts) {
  return (await call(path, opts)).json();
}

export function xml(text) {
  if (!text || !text.trim().startsWith("<")) return null;
  const doc = new DOMParser().parseFromString(text, "application/xml");
  return doc.querySelector("parsererror") ? null : doc;
}

/** An S3 configuration document indented for editing (as is if it does
 * not parse). */
export function pretty(text) {
  const doc = xml(text);
  if (!doc) return text;
  const ser = new XMLSerializer();
  const strip = (s) => s.replace(/ xmlns="[^"]*"/, "");
  const walk = (el, depth) => {
    const pad = "  ".repeat(depth);
    const kids = Array.from(el.children);
    if (kids.length === 0) return pad + (depth ? strip(ser.serializeToString(el)) : ser.serializeToString(el));
    const ns = depth === 0 && el.namespaceURI ? ` xmlns="${el.namespaceURI}"` : "";
    return `${pad}<${el.nodeName}${ns}>\n` + kids.map((k) => walk(k, depth + 1)).join("\n") + `\n${pad}</${el.nodeName}>`;
  };
  return walk(doc.documentElement, 0);
}

export function textOf(node, tag) {
  const el = node.getElementsByTagName(tag)[0];
  return el ? el.textContent : "";
}

export function all(node, tag) {
  return Array.from(node.getElementsByTagName(tag));
}

/** An object's URL in the proxy. The key goes in a parameter, never in the
 * path: browsers resolve "." and ".." path segments (even encoded), which
 * would make a key such as "a/../../other/x" act on another object. */
export function objectPath(bucket, key) {
  return `s3/${encodeURIComponent(bucket)}?herald-key=${encodeURIComponent(key)}`;
}

// ---- S3 -------------------------------------------------------------

export const s3 = {
  async buckets() {
    const doc = xml(await (await call("s3")).text());
    return all(doc, "Bucket").map((b) => ({ name: textOf(b, "Name"), created: textOf(b, "CreationDate") }));
  },
  async createBucket(name) {
    await call("s3/" + encodeURIComponent(name), { method: "PUT" });
  },
  async deleteBucket(name) {
    await call("s3/" + encodeURIComponent(name), { method: "DELETE" });
  },
  async list(bucket, prefix, token) {
    // Keys come URL-encoded: a key may hold characters XML cannot carry
    // (control characters) or that its parser rewrites (\r), and a
    // tenant who may write into the bucket must not be able to blank the
    // listing or make a row act on another object.
    const q = new URLSearchParams({ "list-type": "2", delimiter: "/", prefix, "max-keys": "200", "encoding-type": "url" });
    if (token) q.set("continuation-token", token);
    const doc = xml(await (await call(`s3/${encodeURIComponent(bucket)}?${q}`)).text());
    if (!doc) throw new ApiError("MalformedXML", "the listing could not be read");
    const decode = (s) => decodeURIComponent(s);
    return {
      folders: all(doc, "CommonPrefixes").map((p) => decode(textOf(p, "Prefix"))),
      objects: all(doc, "Contents").map((c) => ({
        key: decode(textOf(c, "Key")), size: Number(textOf(c, "Size")), modified: textOf(c, "LastModified"),
      })),
      next: textOf(doc, "NextContinuationToken"),
    };
  },
  async put(bucket, key, file) {
    await call(objectPath(bucket, key), {
      method: "PUT", body: file, headers: { "content-type": file.type || "application/octet-stream" },
    });
  },
  /** An object's headers (HEAD): type, size, ETag, version, metadata. */
  async head(bucket, key) {
    const resp = await call(objectPath(bucket, key), { method: "HEAD" });
    const out = {};
    resp.headers.forEach((value, name) => {
      if (["content-type", "content-length", "etag", "last-modified", "x-amz-version-id", "cache-control",
        "content-encoding", "content-disposition"].includes(name) || name.startsWith("x-amz-meta-")) out[name] = value;
    });
    return out;
  },
  async tags(bucket, key) {
    const doc = xml(await (await call(objectPath(bucket, key) + "&tagging")).text());
    return doc ? all(doc, "Tag").map((t) => [textOf(t, "Key"), textOf(t, "Value")]) : [];
  },
  /** Replaces an object's tags (none: removes them); fires its tagging event. */
  async setTags(bucket, key, pairs) {
    if (pairs.length === 0) {
      await call(objectPath(bucket, key) + "&tagging", { method: "DELETE" });
      return;
    }
    const doc = new DOMParser().parseFromString('<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet/></Tagging>', "application/xml");
    const ns = doc.documentElement.namespaceURI;
    const set = doc.getElementsByTagName("TagSet")[0];
    for (const [k, v] of pairs) {
      const tag = doc.createElementNS(ns, "Tag");
      const ke = doc.createElementNS(ns, "Key"); ke.textContent = k;
      const ve = doc.createElementNS(ns, "Value"); ve.textContent = v;
      tag.append(ke, ve);
      set.append(tag);
    }
    await call(objectPath(bucket, key) + "&tagging", { method: "PUT", body: new XMLSerializer().serializeToString(doc),
      headers: { "content-type": "application/xml" } });
  },
  /** Every version and delete marker (versioned buckets), 200 a page. */
  async versions(bucket, prefix, marker) {
    const q = new URLSearchParams({ delimiter: "/", prefix, "max-keys": "200", "encoding-type": "url" });
    if (marker) { q.set("key-marker", marker.key); q.set("version-id-marker", marker.versionId); }
    const doc = xml(await (await call(`s3/${encodeURIComponent(bucket)}?versions&${q}`)).text());
    if (!doc) throw new ApiError("MalformedXML", "the listing could not be read");
    const decode = (s) => decodeURIComponent(s);
    const entries = Array.from(doc.documentElement.children)
      .filter((e) => e.nodeName === "Version" || e.nodeName === "DeleteMarker")
      .map((e) => ({
        key: decode(textOf(e, "Key")), versionId: textOf(e, "VersionId"), latest: textOf(e, "IsLatest") === "true",
        deleteMarker: e.nodeName === "DeleteMarker", size: Number(textOf(e, "Size") || 0), modified: textOf(e, "LastModified"),
      }));
    const truncated = textOf(doc, "IsTruncated") === "true";
    return {
      folders: all(doc, "CommonPrefixes").map((p) => decode(textOf(p, "Prefix"))),
      entries,
      next: truncated ? { key: decode(textOf(doc, "NextKeyMarker")), versionId: textOf(doc, "NextVersionIdMarker") } : null,
    };
  },
  async remove(bucket, key, versionId) {
    const v = versionId ? "&versionId=" + encodeURIComponent(versionId) : "";
    await call(objectPath(bucket, key) + v, { method: "DELETE" });
  },
  downloadUrl(bucket, key, versionId) {
    const v = versionId ? "&versionId=" + encodeURIComponent(versionId) : "";
    return "/console/api/" + objectPath(bucket, key) + v;
  },
  /** A bucket sub-resource document (?notification, ?lifecycle); "" if none. */
  async getConfig(bucket, sub, missingCode) {
    try {
      return await (await call(`s3/${encodeURIComponent(bucket)}?${sub}`)).text();
    } catch (e) {
      if (e.code === missingCode) return "";
      throw e;
    }
  },
  async putConfig(bucket, sub, body) {
    await call(`s3/${encodeURIComponent(bucket)}?${sub}`, {
      method: "PUT", body, headers: { "content-type": "application/xml" },
    });
  },
  async deleteConfig(bucket, sub) {
    await call(`s3/${encodeURIComponent(bucket)}?${sub}`, { method: "DELETE" });
  },
};

// ---- SNS (Ceph's topic API) -----------------------------------------

async function sns(params) {
  const body = new URLSearchParams(params);
  const text = await (await call("sns", {
    method: "POST", body: body.toString(),
    headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
  })).text();
  return xml(text);
}

export const topics = {
  async list() {
    const arns = [];
    let token = "";
    for (let page = 0; page < 50; page++) {
      const p = { Action: "ListTopics" };
      if (token) p.NextToken = token;
      const doc = await sns(p);
      arns.push(...all(doc, "TopicArn").map((e) => e.textContent));
      token = textOf(doc, "NextToken");
      if (!token) break;
    }
    return arns;
  },
  async attributes(arn) {
    const doc = await sns({ Action: "GetTopicAttributes", TopicArn: arn });
    const out = {};
    for (const e of all(doc, "entry")) out[textOf(e, "key")] = textOf(e, "value");
    return out;
  },
  /** attrs: {key: value} (push-endpoint, persistent, ...). */
  async create(name, attrs) {
    const p = { Action: "CreateTopic", Name: name };
    Object.entries(attrs).forEach(([k, v], i) => {
      p[`Attributes.entry.${i + 1}.key`] = k;
      p[`Attributes.entry.${i + 1}.value`] = v;
    });
    return textOf(await sns(p), "TopicArn");
  },
  async set(arn, name, value) {
    await sns({ Action: "SetTopicAttributes", TopicArn: arn, AttributeName: name, AttributeValue: value });
  },
  async remove(arn) {
    await sns({ Action: "DeleteTopic", TopicArn: arn });
  },
  async replay(arn, start, end, rate) {
    const p = { Action: "ReplayTopic", TopicArn: arn, StartTime: start };
    if (end) p.EndTime = end;
    if (rate) p.Rate = rate;
    const doc = await sns(p);
    return { id: textOf(doc, "ReplayId"), estimated: textOf(doc, "EstimatedEvents"), status: textOf(doc, "Status") };
  },
  async cancelReplay(arn) {
    return textOf(await sns({ Action: "CancelReplay", TopicArn: arn }), "Cancelled");
  },
  async events(arn, max) {
    return json(`topic-events?${new URLSearchParams({ arn, max: String(max || 20) })}`);
  },
  async test(arn) {
    return json(`topic-test?${new URLSearchParams({ arn })}`, { method: "POST" });
  },
};

// ---- SQS (JSON protocol) --------------------------------------------

async function sqs(action, body) {
  const resp = await call("sqs", {
    method: "POST", body: JSON.stringify(body || {}),
    headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS." + action },
  });
  const text = await resp.text();
  return text ? JSON.parse(text) : {};
}

export const queues = {
  async list() {
    return (await sqs("ListQueues", { MaxResults: 1000 })).QueueUrls || [];
  },
  async attributes(url) {
    return (await sqs("GetQueueAttributes", { QueueUrl: url, AttributeNames: ["All"] })).Attributes || {};
  },
  /** A name ending in .fifo makes a FIFO queue, as in SQS. */
  async create(name, attributes) {
    const attrs = Object.assign(name.endsWith(".fifo") ? { FifoQueue: "true" } : {}, attributes || {});
    return (await sqs("CreateQueue", { QueueName: name, Attributes: attrs })).QueueUrl;
  },
  async remove(url) { await sqs("DeleteQueue", { QueueUrl: url }); },
  async purge(url) { await sqs("PurgeQueue", { QueueUrl: url }); },
  async setAttributes(url, attrs) { await sqs("SetQueueAttributes", { QueueUrl: url, Attributes: attrs }); },
  async peek(url, max) {
    return json(`queue-peek?${new URLSearchParams({ url, max: String(max || 10) })}`);
  },
};
