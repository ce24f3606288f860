using k8s.Models;
using TorchFerry.Webhook.Mutation;

namespace TorchFerry.Webhook.Tests.Mutation;

/// <summary>DeviceProfile selectors with Kubernetes' label selector semantics (k8s.io/apimachinery labels.Selector).</summary>
public sealed class LabelSelectorsTests
{
    private static readonly Dictionary<string, string> Labels = new() { ["project"] = "flytesnacks", ["task-name"] = "workflows-train" };

    [Theory]
    [InlineData("project", "In", "flytesnacks,other", true)]
    [InlineData("project", "In", "other", false)]
    [InlineData("missing", "In", "flytesnacks", false)]
    [InlineData("project", "NotIn", "other", true)]
    [InlineData("project", "NotIn", "flytesnacks", false)]
    [InlineData("missing", "NotIn", "flytesnacks", true)] // NotIn holds for a label that is absent
    [InlineData("project", "Exists", "", true)]
    [InlineData("missing", "Exists", "", false)]
    [InlineData("project", "DoesNotExist", "", false)]
    [InlineData("missing", "DoesNotExist", "", true)]
    [InlineData("project", "Gt", "1", false)] // not a label selector operator: never matches
    public void Expression_MatchesAsKubernetesDoes(string key, string @operator, string values, bool matches)
    {
        var selector = new V1LabelSelector
        {
            MatchExpressions = [new V1LabelSelectorRequirement { Key = key, OperatorProperty = @operator, Values = values.Length == 0 ? null : values.Split(',') }],
        };

        Assert.Equal(matches, LabelSelectors.Matches(selector, Labels));
    }

    [Fact]
    public void AllRequirements_MustHold()
    {
        var selector = new V1LabelSelector
        {
            MatchLabels = new Dictionary<string, string> { ["project"] = "flytesnacks" },
            MatchExpressions =
            [
                new V1LabelSelectorRequirement { Key = "task-name", OperatorProperty = "In", Values = ["workflows-train"] },
                new V1LabelSelectorRequirement { Key = "domain", OperatorProperty = "Exists" },
            ],
        };

        Assert.False(LabelSelectors.Matches(selector, Labels));
        Assert.True(LabelSelectors.Matches(selector, new Dictionary<string, string>(Labels) { ["domain"] = "development" }));
        Assert.True(LabelSelectors.Matches(new V1LabelSelector(), Labels)); // an empty selector matches everything
    }

    [Fact]
    public void Specificity_CountsLabelsAndExpressions()
    {
        var selector = new V1LabelSelector
        {
            MatchLabels = new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" },
            MatchExpressions = [new V1LabelSelectorRequirement { Key = "c", OperatorProperty = "Exists" }],
        };

        Assert.Equal(3, LabelSelectors.Specificity(selector));
        Assert.Equal(2, LabelSelectors.Specificity(new V1LabelSelector { MatchExpressions = [.. selector.MatchExpressions, .. selector.MatchExpressions] }));
        Assert.Equal(0, LabelSelectors.Specificity(new V1LabelSelector()));
    }
}
