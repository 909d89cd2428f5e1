<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en_US">
<context>
    <name>Banner</name>
    <message>
        <source>Dismiss</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ChatController</name>
    <message>
        <source>%1: the chat database is locked by another program. Close other KVmix Chat windows and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1: the chat database is read-only, so nothing can be saved. Check the permissions of %2.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1: the chat database is not open.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1: %2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Saving the chat settings</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reading the conversations</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Renaming the chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Deleting the chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Restoring the chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Wait for the current answer or stop it first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Creating the chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Saving your message</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reading the conversation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Starting the answer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Thinking…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Stopping…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Regenerating</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Editing</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Saving the edit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Switching the branch</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Answering…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Saving the answer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The conversation no longer fits the context: %1 older tokens were left out (%2).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The answer stopped because the context is full.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Stopped</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Failed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 tokens · %2 tok/s</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Exporting</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cannot write %1: %2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cannot read %1: %2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Importing %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Saving the summary</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ChatView</name>
    <message>
        <source>Messages</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>KVmix Chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 is ready. Ask anything — the KV cache uses the %2 preset.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Loading the model…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No model loaded. Choose one with the model button (Ctrl+O).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Message (Enter to send, Shift+Enter for a new line)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Message to send</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Stop</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Send</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Stop the answer (Esc)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Send the message</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>InferenceWorker</name>
    <message>
        <source>Opening %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Preparing the weights</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Loading the tokenizer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The model has no usable tokenizer: %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Ready</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No model is loaded.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>There is nothing to answer.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reading the conversation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Summarize this part of a document in a few sentences:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Write a concise summary of this document:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The context (%1 tokens) is too small to summarize.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The document is empty.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Summarizing part %1 of %2 (round %3)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The model produced empty summaries.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Writing the summary</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Done</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>CUDA is available, but the desktop app runs the model on the CPU for now.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>CPU (no GPU: %1)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The profile was not stored.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>KvController</name>
    <message>
        <source>Applies from your next message: the conversation is re-read (re-prefilled) with the new precision.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>fp16 (no compression)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>High quality</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Balanced</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Compact</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Custom</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Every layer keeps 16-bit keys and values (the baseline).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your own bits per layer.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not profiled yet — run profiling. Meanwhile every layer uses K%1 V%2.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Profile stored: %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Profiling cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Profiling failed: %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Per-layer bits from this model&apos;s importance profile (%1).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Starting the importance analysis…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>LayerView</name>
    <message>
        <source>Layer precision</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Run the layer importance analysis</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Load a model to see its layers.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>fp16</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1-bit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>average K %1 / V %2 bits · %3 per token</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Layer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>K</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>V</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Importance (K / V)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Window K / V</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Bytes/token</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Per-layer bits</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Layer %1 %2: %3 bits, full-precision window %4 tokens%5. Click to change.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>keys</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>values</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>, importance %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Layer %1 %2 bits %3</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>not profiled</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 / %2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Bits</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>16 (fp16)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 bits</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel profiling</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Profile again</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Run profiling</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel the importance analysis</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Measure each layer&apos;s importance on text the model writes itself (8 sequences of 128 tokens); the presets then give more bits to the important layers.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This build has no importance profiler</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Profiling progress</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>Main</name>
    <message>
        <source>%1 — KVmix Chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>KVmix Chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Show or hide the conversation list</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Model: %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose a model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Default model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Open GGUF file…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Open safetensors folder…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Model information…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Loading the model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Chat page</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Summarize</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Summarize a document</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Layers</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Layer precision view</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Memory</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Show or hide the memory panel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Settings</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Settings (Ctrl+,)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Open a model file</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Models (*.gguf *.safetensors)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Open a Hugging Face model folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Model information</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>File</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Format</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Architecture</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Size</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Heads (KV)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 (%2)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Training context</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Vocabulary</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Chat template</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>from the model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>built-in for its family</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Device</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MemoryPanel</name>
    <message>
        <source>Memory</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Model weights</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>KV cache (KVmix)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Same cache in fp16</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Saving</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1× smaller</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Tokens in context</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 / %2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Still fit in context</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>KV cache over the conversation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Chart of KV cache bytes by tokens in context</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>no data yet</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>tokens</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>KVmix</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>fp16</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>KV budget</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Still fit in budget</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MessageDelegate</name>
    <message>
        <source>You</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Assistant</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>writing…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>stopped</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>interrupted (the app closed while answering)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>failed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Previous version</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1/%2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Version %1 of %2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Next version</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Edit the message</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Save and answer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Save</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel editing</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Copy code %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Copy code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Copy</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Copy the message</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Edit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Regenerate</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Regenerate the answer (Ctrl+R)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 tokens · first token %2 ms · %3 tok/s</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ModelController</name>
    <message>
        <source>Could not load %1: %2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Loading %1…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Opening %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The default model is not installed (%1). Run installer/setup.sh or open a model file.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>CPU</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Runs on the CPU.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PresetSelector</name>
    <message>
        <source>KV cache preset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 · %2/token · %3 tokens fit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>not profiled</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>KV: %1</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>QObject</name>
    <message>
        <source>New chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1: this build cannot read PDF files (built without poppler-qt6); open a .txt or .md file.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 is not a readable PDF.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 is password-protected.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 has no extractable text (a scanned PDF?).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cannot open %1: %2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 is not a text file (open .txt, .md or .pdf).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 is not valid UTF-8 text.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 is empty.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The custom precision lists %1 layers; the model has %2.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The chat history at %1 cannot be used: %2. Chats will not be saved.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Could not mark interrupted answers: %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 sequences, %2 tokens (%3)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Writing calibration text %1/%2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Measuring layer importance %1/%2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This build has no importance profiler.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <source>Settings</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Appearance</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Theme</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>System</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Light</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Dark</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Text size</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Text size in percent</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>System prompt (this chat and new chats)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>e.g. You are a concise assistant.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>System prompt</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Sampling</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Temperature</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Top-k</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Top-p</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Min-p</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Repeat penalty</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Seed (−1 random)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Seed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Max tokens</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Maximum tokens per answer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Context length</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Context length in tokens</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>When the context is full</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Drop the oldest turns (keep the system prompt)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Rolling window</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Stop with an error</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Context policy</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>KV cache</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Memory budget for the KV cache (MiB)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>KV cache memory budget in MiB</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Storage</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Chats are stored in %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>KVmix Chat %1</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>Sidebar</name>
    <message>
        <source>New chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>New chat (Ctrl+N)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Search chats (Ctrl+F)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Search conversations</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Conversations</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No chat matches.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No chats yet.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Chat deleted.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Undo</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Undo delete</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Import chat…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Import a chat from JSON</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Rename…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Export as Markdown…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Export as JSON…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Rename chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>New title</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Export chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>JSON (*.json)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Markdown (*.md)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Import chat</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SummarizePage</name>
    <message>
        <source>Summarize a document</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Open document…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Open a document to summarize</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 · %2 characters</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Text, Markdown or PDF</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Text or Markdown</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Summarize</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel the summary (Esc)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Summarize the document</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>KV preset: %1 — %2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Summary progress</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The document appears here.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Document preview</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Summary</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Continue as a chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Open the summary as a conversation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Open a document</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Documents (*.txt *.md *.markdown *.pdf)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Documents (*.txt *.md *.markdown)</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SummaryController</name>
    <message>
        <source>Starting…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>one pass</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>map-reduce over %1 chunks in %2 rounds</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> KVmix kept the cache at %1 instead of %2 (%3× smaller).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 tokens, %2, preset %3, context %4 tokens.%5</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Done</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Summarize the document %1:

%2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Summarize the document %1 (%2 tokens, too long for one pass).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Summary: %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancelled</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Failed</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
