using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>
/// A TCP proxy in front of the API server emulator that fails the way networks and API server
/// upgrades fail, below HTTP: it resets connections (in the middle of a request or of a watch
/// stream), stalls them, answers with TLS where the client speaks plain HTTP, and restarts (stops
/// listening, drops every connection, listens again on the same port after a while; the emulator
/// behind keeps all its state, as etcd does). Clients are pointed at <see cref="Endpoint"/>.
/// With several backends it is a Service as kube-proxy makes one: each new connection goes to the
/// next backend, and a connection stays with its backend when the backends change.
/// </summary>
public sealed class TransportFaults : IAsyncDisposable
{
    // A TLS alert record (fatal handshake_failure): what a TLS listener sends to a peer it cannot talk to.
    private static readonly byte[] TlsAlert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];

    private IPEndPoint[] targets;
    private int nextTarget;
    private readonly ConcurrentDictionary<int, Link> links = new();
    private readonly CancellationTokenSource disposing = new();
    private readonly Lock gate = new();
    private TcpListener listener;
    private Task accepting;
    private TaskCompletionSource flowing = CompletedSignal();
    private int nextId;
    private int resets;
    private int restarts;
    private int backendRefusals;

    public TransportFaults(Uri target)
    {
        ArgumentNullException.ThrowIfNull(target);
        targets = [EndPointOf(target)];
        listener = Listen(0);
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Endpoint = new Uri($"http://127.0.0.1:{Port}/");
        accepting = AcceptAsync(listener);
    }

    /// <summary>Where clients connect instead of the emulator.</summary>
    public Uri Endpoint { get; }

    /// <summary>The port, kept across restarts.</summary>
    public int Port { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref nextId);

    /// <summary>Connections reset by a fault so far.</summary>
    public int Resets => Volatile.Read(ref resets);

    /// <summary>Restarts so far.</summary>
    public int Restarts => Volatile.Read(ref restarts);

    /// <summary>Connections reset because the backend they were routed to refused them (or none was routed).</summary>
    public int BackendRefusals => Volatile.Read(ref backendRefusals);

    /// <summary>
    /// Resets the connection when a request whose request line ("PUT /apis/... HTTP/1.1") matches
    /// arrives, before it reaches the server: the client has sent it and gets no answer.
    /// </summary>
    public Func<string, bool>? ResetRequests { get; set; }

    /// <summary>New connections get a TLS alert and are closed, as when a TLS listener answers plain HTTP.</summary>
    public bool AnswerWithTls { get; set; }

    /// <summary>While true nothing is relayed in either direction; connections stay open, silent.</summary>
    public bool Stalled
    {
        get
        {
            lock (gate)
            {
                return !flowing.Task.IsCompleted;
            }
        }

        set
        {
            lock (gate)
            {
                if (value && flowing.Task.IsCompleted)
                {
                    flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
                else if (!value)
                {
                    flowing.TrySetResult();
                }
            }
        }
    }

    /// <summary>Where new connections go from now on (round robin); open connections stay where they are.</summary>
    public void RouteTo(IReadOnlyList<Uri> backends)
    {
        ArgumentNullException.ThrowIfNull(backends);
        Volatile.Write(ref targets, [.. backends.Select(EndPointOf)]);
    }

    private static IPEndPoint EndPointOf(Uri uri) => new(IPAddress.Parse(uri.Host), uri.Port);

    /// <summary>Resets every open connection (requests in flight and watch streams alike).</summary>
    public void ResetAll()
    {
        foreach (var link in links.Values)
        {
            Reset(link);
        }
    }

    /// <summary>
    /// Stops listening and drops every connection; after <paramref name="downtime"/> (connections
    /// refused meanwhile) listens again on the same port.
    /// </summary>
    public async Task RestartAsync(TimeSpan downtime)
    {
        Interlocked.Increment(ref restarts);
        listener.Stop();
        await accepting.ConfigureAwait(false);
        ResetAll();
        await Task.Delay(downtime, disposing.Token).ConfigureAwait(false);
        listener = Listen(Port);
        accepting = AcceptAsync(listener);
    }

    public async ValueTask DisposeAsync()
    {
        await disposing.CancelAsync().ConfigureAwait(false);
        Stalled = false;
        listener.Stop();
        await accepting.ConfigureAwait(false);
        ResetAll();
        disposing.Dispose();
    }

    private static TaskCompletionSource CompletedSignal()
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        signal.SetResult();
        return signal;
    }

    private static TcpListener Listen(int port)
    {
        var listening = new TcpListener(IPAddress.Loopback, port);
        listening.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listening.Start();
        return listening;
    }

    private async Task AcceptAsync(TcpListener listening)
    {
        while (!disposing.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listening.AcceptSocketAsync(disposing.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return; // stopped
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        var id = Interlocked.Increment(ref nextId);
        client.NoDelay = true;
        if (AnswerWithTls)
        {
            try
            {
                await client.SendAsync(TlsAlert).ConfigureAwait(false);
            }
            catch (SocketException)
            {
            }

            client.Close();
            return;
        }

        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var backends = Volatile.Read(ref targets);
        try
        {
            if (backends.Length == 0)
            {
                throw new SocketException((int)SocketError.ConnectionRefused); // a Service without endpoints
            }

            await server.ConnectAsync(backends[(int)((uint)Interlocked.Increment(ref nextTarget) % backends.Length)]).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            Interlocked.Increment(ref backendRefusals);
            Reset(new Link(client, server));
            return;
        }

        var link = new Link(client, server);
        links[id] = link;
        try
        {
            await Task.WhenAny(PumpAsync(link, client, server, inspect: true), PumpAsync(link, server, client, inspect: false)).ConfigureAwait(false);
        }
        finally
        {
            links.TryRemove(id, out _);
            Close(link);
        }
    }

    private async Task PumpAsync(Link link, Socket from, Socket to, bool inspect)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer).ConfigureAwait(false);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                Task flow;
                lock (gate)
                {
                    flow = flowing.Task;
                }

                await flow.ConfigureAwait(false);
                if (inspect && ResetRequests is { } matches && RequestLine(buffer.AsSpan(0, read)) is { } line && matches(line))
                {
                    Reset(link);
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The other side, or a fault, ended the link.
        }
    }

    // HTTP/1.1 clients send a request's head in one write: a chunk that starts with a method is one.
    private static string? RequestLine(ReadOnlySpan<byte> chunk)
    {
        var end = chunk.IndexOf("\r\n"u8);
        if (end <= 0)
        {
            return null;
        }

        var line = Encoding.ASCII.GetString(chunk[..end]);
        return line.EndsWith(" HTTP/1.1", StringComparison.Ordinal) && line.IndexOf(' ', StringComparison.Ordinal) is > 2 and < 8 ? line : null;
    }

    private void Reset(Link link)
    {
        Interlocked.Increment(ref resets);
        foreach (var socket in new[] { link.Client, link.Server })
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0); // close with RST, not FIN
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        }

        Close(link);
    }

    private static void Close(Link link)
    {
        link.Client.Dispose();
        link.Server.Dispose();
    }

    private sealed record Link(Socket Client, Socket Server);
}
