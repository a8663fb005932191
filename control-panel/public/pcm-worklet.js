// Runs on the audio thread: hands each 128-frame block of the first channel to the page.
// Conversion to the wire format happens on the page, so this stays trivial and allocation-light.
class PcmTap extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor('pcm-tap', PcmTap);
