using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace TorchFerry.Runtime.Hosting;

/// <summary>
/// Leaves SIGTERM to the command line. ASP.NET's console lifetime would stop the server the moment
/// the signal arrives; the webhook must keep serving through its shutdown delay, and the operator
/// must stop its controllers and release its Lease first. The command line's cancellation token (with
/// its termination timeout set to the configured grace period) decides when each part stops.
/// </summary>
internal sealed class CommandLineLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Wires <see cref="CommandLineLifetime"/> into a web application.</summary>
internal static class CommandLineLifetimeExtensions
{
    public static void LeaveSignalsToTheCommandLine(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton<IHostLifetime, CommandLineLifetime>();
    }
}
