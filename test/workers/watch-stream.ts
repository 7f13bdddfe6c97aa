// Reading a watch's newline-delimited JSON events from its response body.

/** Events until `count` have arrived, or, without a count, until the stream ends. */
export async function readEvents(reader: ReadableStreamDefaultReader<Uint8Array>, count = Infinity): Promise<any[]> {
  const decoder = new TextDecoder();
  const events: any[] = [];
  let buffered = '';
  while (events.length < count) {
    const { done, value } = await reader.read();
    if (done) {
      if (count === Infinity) return events;
      throw new Error(`the watch ended after ${events.length} of ${count} events: ${JSON.stringify(events)}`);
    }
    buffered += decoder.decode(value, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) events.push(JSON.parse(line));
    }
  }
  return events;
}
